package sasldb_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/sasldb"
)

const (
	saslpasswd2 = "/usr/sbin/saslpasswd2"
	listusers   = "/usr/sbin/sasldblistusers2"
	dbDump      = "/usr/bin/db5.3_dump"
	dbLoad      = "/usr/bin/db5.3_load"
)

func need(t testing.TB) {
	t.Helper()
	for _, p := range []string{saslpasswd2, listusers, dbDump, dbLoad} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is needed (packages sasl2-bin, db5.3-util): %v", p, err)
		}
	}
}

// setpw runs the real saslpasswd2 to create or change user in realm.
func setpw(t testing.TB, db, realm, user, pw string) {
	t.Helper()
	cmd := exec.Command(saslpasswd2, "-p", "-c", "-f", db, "-u", realm, user)
	cmd.Stdin = strings.NewReader(pw)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("saslpasswd2 %s@%s: %v: %s", user, realm, err, out)
	}
}

func delpw(t testing.TB, db, realm, user string) {
	t.Helper()
	if out, err := exec.Command(saslpasswd2, "-d", "-f", db, "-u", realm, user).CombinedOutput(); err != nil {
		t.Fatalf("saslpasswd2 -d %s@%s: %v: %s", user, realm, err, out)
	}
}

// dump runs db5.3_dump -p and returns its key/data pairs.
func dump(t testing.TB, db string) map[string]string {
	t.Helper()
	out, err := exec.Command(dbDump, "-p", db).Output()
	if err != nil {
		t.Fatalf("db5.3_dump %s: %v", db, err)
	}
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	inData := false
	var key *string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "HEADER=END":
			inData = true
		case line == "DATA=END":
			inData = false
		case inData && strings.HasPrefix(line, " "):
			v := unprint(t, line[1:])
			if key == nil {
				key = &v
			} else {
				m[*key] = v
				key = nil
			}
		}
	}
	if key != nil {
		t.Fatalf("db5.3_dump: odd number of items")
	}
	return m
}

// unprint undoes db_dump -p's escapes (\\ and \xx in hex).
func unprint(t testing.TB, s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '\\' {
			b.WriteByte('\\')
			i++
			continue
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			t.Fatalf("db_dump escape in %q: %v", s, err)
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String()
}

func parseFile(t testing.TB, db string) (sasldb.Meta, map[string]string) {
	t.Helper()
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	m, entries, err := sasldb.Parse(data)
	if err != nil {
		t.Fatalf("Parse %s: %v", db, err)
	}
	got := map[string]string{}
	for _, e := range entries {
		if _, dup := got[string(e.Key)]; dup {
			t.Errorf("key %q twice", e.Key)
		}
		got[string(e.Key)] = string(e.Value)
	}
	return m, got
}

func sameMaps(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d keys, db5.3_dump has %d", what, len(got), len(want))
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: key %q missing", what, k)
		} else if g != v {
			t.Errorf("%s: key %q = %d bytes %.20q..., db5.3_dump says %d bytes %.20q...", what, k, len(g), g, len(v), v)
		}
	}
}

// bigDB makes a sasldb with several realms, 400 users (many buckets and
// pages), passwords up to saslpasswd2's limit (overflow pages), long user
// names and realms (overflow keys), odd bytes, changed and deleted users.
func bigDB(t testing.TB) (string, map[string]string) {
	need(t)
	bigOnce.Do(func() { bigPath, bigWant = makeBigDB(t) })
	if bigPath == "" {
		t.Fatal("the test sasldb could not be made")
	}
	data, err := os.ReadFile(bigPath)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "sasldb2")
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return db, maps.Clone(bigWant)
}

var (
	bigOnce sync.Once
	bigDir  string
	bigPath string
	bigWant map[string]string
)

func TestMain(m *testing.M) {
	var err error
	if bigDir, err = os.MkdirTemp("", "sasldb-test"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(bigDir)
	os.Exit(code)
}

func makeBigDB(t testing.TB) (string, map[string]string) {
	db := filepath.Join(bigDir, "sasldb2")
	want := map[string]string{} // user@realm → password
	add := func(realm, user, pw string) {
		setpw(t, db, realm, user, pw)
		want[user+"@"+realm] = pw
	}
	add("murder.test", "murder", "murderpw")
	add("murder.test", "alice", "pa ss:wörd\\x")
	add("other.test", "alice", "another")
	add("murder.test", "long", strings.Repeat("0123456789", 100)+"xyz")
	add(strings.Repeat("r", 300)+".test", strings.Repeat("u", 1500), "long key")
	for i := 0; i < 400; i++ {
		add("murder.test", fmt.Sprintf("user%03d", i), fmt.Sprintf("pw-%d-%s", i, strings.Repeat("y", i%50)))
	}
	add("murder.test", "murder", "changedpw")
	delpw(t, db, "murder.test", "user007")
	delete(want, "user007@murder.test")
	delpw(t, db, "other.test", "alice")
	delete(want, "alice@other.test")
	return db, want
}

// TestAgreesWithRealTools: every key and value Parse finds in files the
// real saslpasswd2 wrote is what db5.3_dump prints and the users are what
// sasldblistusers2 lists, little- and big-endian (db5.3_load lorder).
func TestAgreesWithRealTools(t *testing.T) {
	db, want := bigDB(t)
	m, got := parseFile(t, db)
	sameMaps(t, "native", got, dump(t, db))
	if m.MaxBucket < 4 {
		t.Errorf("max_bucket %d: the file should have many buckets", m.MaxBucket)
	}
	// overflow pages were used (type 7)
	data, _ := os.ReadFile(db)
	ovf := 0
	for p := 0; (p+1)*int(m.PageSize) <= len(data); p++ {
		if data[p*int(m.PageSize)+25] == 7 {
			ovf++
		}
	}
	if ovf == 0 {
		t.Errorf("no overflow page in the test file")
	}
	// the passwords as set
	pws := map[string]string{}
	for k, v := range got {
		u, r, p, ok := sasldb.SplitKey([]byte(k))
		if !ok {
			t.Fatalf("key %q is not user NUL realm NUL prop", k)
		}
		if p == sasldb.PasswordProp {
			pws[u+"@"+r] = v
		}
	}
	sameMaps(t, "passwords", pws, want)
	// sasldblistusers2
	out, err := exec.Command(listusers, "-f", db).Output()
	if err != nil {
		t.Fatalf("sasldblistusers2: %v", err)
	}
	var listed, ours []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		listed = append(listed, l)
	}
	for k := range got {
		u, r, p, _ := sasldb.SplitKey([]byte(k))
		ours = append(ours, u+"@"+r+": "+p)
	}
	slices.Sort(listed)
	slices.Sort(ours)
	if !slices.Equal(listed, ours) {
		t.Errorf("sasldblistusers2 lists %d entries, Parse %d", len(listed), len(ours))
	}

	// big-endian copy made by the real db5.3_load
	be := filepath.Join(t.TempDir(), "be.db")
	dumpOut, _ := exec.Command(dbDump, db).Output()
	load := exec.Command(dbLoad, "-c", "db_lorder=4321", be)
	load.Stdin = bytes.NewReader(dumpOut)
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("db5.3_load: %v: %s", err, out)
	}
	bm, bgot := parseFile(t, be)
	if bm.Order != binary.BigEndian {
		t.Errorf("byte order %v, want big-endian", bm.Order)
	}
	sameMaps(t, "big-endian", bgot, want2(got))
	// and a small page size
	small := filepath.Join(t.TempDir(), "small.db")
	load = exec.Command(dbLoad, "-c", "db_pagesize=512", small)
	load.Stdin = bytes.NewReader(dumpOut)
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("db5.3_load: %v: %s", err, out)
	}
	sm, sgot := parseFile(t, small)
	if sm.PageSize != 512 {
		t.Errorf("page size %d", sm.PageSize)
	}
	sameMaps(t, "512-byte pages", sgot, want2(got))
}

func want2(m map[string]string) map[string]string { return m }

// TestAuth: PLAIN as libsasl's sasldb auxprop checks it for Cyrus's
// mupdate (realm = servername unless the name has '@'), and SCRAM from
// the clear password.
func TestAuth(t *testing.T) {
	db, _ := bigDB(t)
	ctx := context.Background()
	f, err := sasldb.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	a := &sasldb.Auth{File: f, Realm: "murder.test"}
	for _, tc := range []struct {
		user, pw string
		ok       bool
	}{
		{"murder", "changedpw", true},
		{"murder", "murderpw", false}, // the old password
		{"murder@murder.test", "changedpw", true},
		{"alice", "pa ss:wörd\\x", true},
		{"alice", "pa ss:wörd\\", false},
		{"alice", "pa ss:wörd\\xx", false},
		{"alice@other.test", "another", false}, // deleted
		{"long", strings.Repeat("0123456789", 100) + "xyz", true},
		{"user007", "pw-7-yyyyyyy", false}, // deleted
		{"user008", "pw-8-yyyyyyyy", true},
		{"user399", "pw-399-" + strings.Repeat("y", 399%50), true},
		{"nobody", "", false},
		{"murder@nowhere", "changedpw", false},
		{strings.Repeat("u", 1500) + "@" + strings.Repeat("r", 300) + ".test", "long key", true},
	} {
		ok, err := a.VerifyPlainContext(ctx, tc.user, tc.pw)
		if err != nil || ok != tc.ok {
			t.Errorf("VerifyPlain(%.30s, %.20q) = %v, %v; want %v", tc.user, tc.pw, ok, err, tc.ok)
		}
	}
	// SCRAM keys derived from the clear password
	sc, err := a.SCRAM(creds.SCRAMSHA256, "murder")
	if err != nil {
		t.Fatalf("SCRAM: %v", err)
	}
	if len(sc.StoredKey) == 0 || sc.Iters == 0 {
		t.Errorf("SCRAM credentials empty: %+v", sc)
	}
	if _, err := a.SCRAM(creds.SCRAMSHA256, "nobody"); err == nil {
		t.Errorf("SCRAM for an unknown user succeeded")
	}

	// the file changes under the reader: saslpasswd2 changes a password,
	// adds and deletes users; the next check sees it
	time.Sleep(10 * time.Millisecond) // a distinct mtime, by which the reader sees the change (not a synchronisation)
	setpw(t, db, "murder.test", "murder", "thirdpw")
	setpw(t, db, "murder.test", "newuser", "newpw")
	delpw(t, db, "murder.test", "user008")
	for _, tc := range []struct {
		user, pw string
		ok       bool
	}{
		{"murder", "thirdpw", true},
		{"murder", "changedpw", false},
		{"newuser", "newpw", true},
		{"user008", "pw-8-yyyyyyyy", false},
	} {
		if ok, err := a.VerifyPlainContext(ctx, tc.user, tc.pw); err != nil || ok != tc.ok {
			t.Errorf("after the change: VerifyPlain(%s, %s) = %v, %v; want %v", tc.user, tc.pw, ok, err, tc.ok)
		}
	}
	sc2, err := a.SCRAM(creds.SCRAMSHA256, "murder")
	if err != nil || bytes.Equal(sc2.StoredKey, sc.StoredKey) {
		t.Errorf("SCRAM after a password change: same key or %v", err)
	}
}

// TestBrokenFile: a file that is not (or no longer) a sasldb is an error
// naming the file offset; a file being rewritten is read again; a missing
// file is an error from Open.
func TestBrokenFile(t *testing.T) {
	db, _ := bigDB(t)
	good, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	ps := int(binary.LittleEndian.Uint32(good[20:]))
	for _, tc := range []struct {
		name   string
		change func([]byte) []byte
		offset int64
	}{
		{"truncated", func(b []byte) []byte { return b[:100] }, 0},
		{"magic", func(b []byte) []byte { b[12] = 0; return b }, 12},
		{"version", func(b []byte) []byte { b[16] = 3; return b }, 16},
		{"page size", func(b []byte) []byte { b[20] = 1; return b }, 20},
		{"bucket page type", func(b []byte) []byte { b[ps+25] = 5; return b }, int64(ps + 25)},
		{"item offset", func(b []byte) []byte { b[ps+26], b[ps+27] = 0xff, 0xff; return b }, int64(ps + 26)},
		{"cut in the middle", func(b []byte) []byte { return b[:len(b)/2] }, -1},
	} {
		data := tc.change(bytes.Clone(good))
		_, _, err := sasldb.Parse(data)
		var fe *sasldb.FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: err %v, want a FormatError", tc.name, err)
			continue
		}
		if tc.offset >= 0 && fe.Offset != tc.offset {
			t.Errorf("%s: %v: offset %d, want %d", tc.name, err, fe.Offset, tc.offset)
		}
	}

	// a File retries a broken read, then reports it (never an answer)
	bad := filepath.Join(t.TempDir(), "sasldb2")
	if err := os.WriteFile(bad, good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sasldb.Open(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "read 5 times") {
		t.Errorf("Open(half a file) = %v, want an error after retries", err)
	}
	// the file is whole again while a check waits: the retry reads it
	f := &sasldb.File{Path: bad}
	go func() {
		// not a synchronisation: the repair lands while the check is
		// already retrying, which is what this part tests
		time.Sleep(30 * time.Millisecond)
		os.WriteFile(bad, good, 0o600)
	}()
	a := &sasldb.Auth{File: f, Realm: "murder.test"}
	if ok, err := a.VerifyPlainContext(context.Background(), "user009", "pw-9-yyyyyyyyy"); !ok || err != nil {
		t.Errorf("check while the file is rewritten: %v, %v", ok, err)
	}
	if _, err := sasldb.Open(context.Background(), filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("Open(missing) succeeded")
	}
}

// FuzzSasldb: Parse never panics; what it accepts is well formed. Its
// seeds (testdata/fuzz/FuzzSasldb) are a sasldb the real saslpasswd2 made
// (40 users, one deleted, a 1000-byte password) reloaded by db5.3_load
// with 512-byte pages, little- and big-endian.
func FuzzSasldb(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m, entries, err := sasldb.Parse(data)
		if err != nil {
			var fe *sasldb.FormatError
			if !errors.As(err, &fe) || fe.Offset < 0 || fe.Offset > int64(len(data))+1<<17 {
				t.Fatalf("error %v is not a FormatError with a sensible offset", err)
			}
			return
		}
		if m.PageSize < 512 {
			t.Fatalf("accepted page size %d", m.PageSize)
		}
		_ = sasldb.New(m, entries)
	})
}

// TestFuzzSeeds: FuzzSasldb's seeds are whole sasldbs (40 users, user5
// deleted, a 1000-byte password) in both byte orders with 512-byte pages,
// so the fuzzer starts from files that parse.
func TestFuzzSeeds(t *testing.T) {
	for name, order := range map[string]binary.ByteOrder{"seed512": binary.LittleEndian, "seedbe": binary.BigEndian} {
		raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzSasldb", name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(raw), "\n", 3)
		q, ok := strings.CutPrefix(lines[1], "[]byte(")
		if !ok || lines[0] != "go test fuzz v1" {
			t.Fatalf("%s: not a Go fuzz corpus file", name)
		}
		data, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m, entries, err := sasldb.Parse([]byte(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		db := sasldb.New(m, entries)
		if m.Order != order || m.PageSize != 512 || len(entries) != 40 {
			t.Errorf("%s: order %v page size %d, %d entries", name, m.Order, m.PageSize, len(entries))
		}
		if v, ok := db.Get("long", "murder.test", sasldb.PasswordProp); !ok || string(v) != strings.Repeat("L", 1000) {
			t.Errorf("%s: long's password %d bytes", name, len(v))
		}
		if _, ok := db.Get("user5", "murder.test", sasldb.PasswordProp); ok {
			t.Errorf("%s: the deleted user5 is there", name)
		}
	}
}
