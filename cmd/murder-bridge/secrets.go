package main

import (
	"fmt"
	"io"
	"os"
)

// secretTooOpen says why a credentials, password or token file is unsafe,
// or "": readable or writable by every user on the host ("other" bits).
// Group bits are allowed: a root:cyrus 0640 file is how a service run as
// the cyrus user (under cyrmaster) reads its secrets.
func secretTooOpen(what, path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "" // reading it reports the error
	}
	if m := fi.Mode().Perm(); m&0o007 != 0 {
		return fmt.Sprintf("%s %s is readable or writable by every user on this host (mode %04o): chmod 600 %s (or 640 with a group of its readers)", what, path, m, path)
	}
	return ""
}

// checkSecretFiles refuses (or, with allow, only warns about) secret files
// every user may read, as ssh does for private keys.
func checkSecretFiles(allow bool, warn func(string), files ...[2]string) error {
	for _, f := range files {
		if f[1] == "" {
			continue
		}
		if why := secretTooOpen(f[0], f[1]); why != "" {
			if !allow {
				return exitcodeInput(fmt.Errorf("%s; --allow-insecure-files serves anyway", why))
			}
			warn(why)
		}
	}
	return nil
}

// warnSecretFile prints a warning on w when a client command's token or
// password file is readable by every user.
func warnSecretFile(w io.Writer, what, path string) {
	if why := secretTooOpen(what, path); why != "" {
		fmt.Fprintln(w, "murder-bridge: warning:", why)
	}
}
