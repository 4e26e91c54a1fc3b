package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/exitcode"
)

// TestServeRefusesOpenSecretFiles: serve refuses a credentials, follow
// password or token file every user may read, naming the file, its mode and
// the fix; --allow-insecure-files serves with a warning; group-readable
// (root:cyrus 0640, for a bridge run by cyrmaster) is accepted.
func TestServeRefusesOpenSecretFiles(t *testing.T) {
	dir := t.TempDir()
	creds := writeFile(t, dir, "credentials", "murder:murderpw\n")
	token := writeFile(t, dir, "token", "tok\n")
	pw := writeFile(t, dir, "pw", "murderpw\n")
	base := func() serveOptions {
		return serveOptions{registry: "leveldb://" + filepath.Join(dir, "reg"), listen: freeAddr(t), credentials: creds,
			logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))}
	}
	for _, c := range []struct {
		file string
		set  func(*serveOptions)
		flag string
	}{
		{creds, func(o *serveOptions) {}, "--credentials"},
		{token, func(o *serveOptions) { o.http, o.httpTokenFile = freeAddr(t), token }, "--http-token-file"},
		{pw, func(o *serveOptions) { o.follow, o.followUser, o.followPasswordFile = "127.0.0.1:1", "murder", pw }, "--follow-password-file"},
	} {
		os.Chmod(c.file, 0o644)
		o := base()
		c.set(&o)
		_, err := o.config()
		if exitcode.Of(err) != exitcode.Input || !strings.Contains(err.Error(), c.flag+" "+c.file) || !strings.Contains(err.Error(), "mode 0644") ||
			!strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), "--allow-insecure-files") {
			t.Errorf("%s mode 0644: %v (exit %d), want exit %d naming the file, its mode and the fix", c.flag, err, exitcode.Of(err), exitcode.Input)
		}
		os.Chmod(c.file, 0o640)
		if _, err := o.config(); err != nil {
			t.Errorf("%s mode 0640: %v", c.flag, err)
		}
		os.Chmod(c.file, 0o600)
	}

	// --allow-insecure-files: serves, with the warning in the log
	os.Chmod(creds, 0o604)
	var logs bytes.Buffer
	o := base()
	o.allowInsecureFiles = true
	o.logger = slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := runServe(ctx, o); err != nil {
		t.Errorf("--allow-insecure-files: %v", err)
	}
	if !strings.Contains(logs.String(), "readable or writable by every user") {
		t.Errorf("no warning logged:\n%s", logs.String())
	}
	var w bytes.Buffer
	warnSecretFile(&w, "--token-file", creds)
	if !strings.Contains(w.String(), "warning: --token-file "+creds) {
		t.Errorf("client warning: %q", w.String())
	}
}
