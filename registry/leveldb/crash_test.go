package leveldb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// The child modes re-exec this test binary as a separate process, so that
// the lock is held by another process and kill -9 is real.
const childEnv = "MURDERKIT_REGISTRY_LEVELDB_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "hold":
		childHold(os.Getenv("REG_PATH"))
	case "import":
		childImport(os.Getenv("REG_PATH"))
	case "build":
		childBuild(os.Getenv("REG_PATH"))
	case "put":
		childPut(os.Getenv("REG_PATH"), os.Getenv("REG_NOSYNC") != "")
	default:
		os.Exit(m.Run())
	}
}

func childHold(path string) {
	s, err := Open(context.Background(), path, nil)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	defer s.Close()
	fmt.Println("locked")
	time.Sleep(time.Minute) // hold the lock until the parent kills this child
}

const importBatch = 2000

// importEntry is the i-th entry of the crash import: three ACL identifiers
// with `l`, so four index rows each.
func importEntry(i int) registry.Entry {
	e := registry.Entry{}
	e.Name = fmt.Sprintf("user.imp%07d", i)
	e.Server, e.Partition = "be1", "default"
	e.ACL = mboxlist.ACL{{ID: fmt.Sprintf("imp%07d", i), Rights: "lrswipkxtecdan"}, {ID: "anyone", Rights: "lr"}, {ID: "group:g" + strconv.Itoa(i%7), Rights: "lrs"}}
	e.UniqueID = fmt.Sprintf("uid-%d", i)
	e.UIDValidity = uint32(i)
	return e
}

// childImport imports batches forever (synced writes, as in production),
// printing the number of entries acknowledged after each batch.
func childImport(path string) {
	s, err := Open(context.Background(), path, &Options{NoSync: os.Getenv("REG_NOSYNC") != ""})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	n := 0
	for {
		batch := make([]registry.Entry, importBatch)
		for k := range batch {
			batch[k] = importEntry(n + k)
		}
		if _, err := s.Import(context.Background(), batch); err != nil {
			fmt.Println("error:", err)
			os.Exit(3)
		}
		n += importBatch
		fmt.Println("acked", n)
	}
}

func startChild(t *testing.T, mode, path string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "REG_PATH="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewScanner(out)
}

func TestLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reg")
	_, sc := startChild(t, "hold", path)
	if !sc.Scan() || sc.Text() != "locked" {
		t.Fatalf("child said %q", sc.Text())
	}
	_, err := Open(context.Background(), path, nil)
	if err == nil {
		t.Fatal("second process opened a locked registry")
	}
	if !errors.Is(err, registry.ErrUnavailable) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("error %q: want ErrUnavailable naming %s and another process", err, path)
	}
	t.Logf("error as users see it: %v", err)
}

// TestCrashDuringImport kill -9s a child process in the middle of a batch
// import, then checks that the registry holds a prefix of the import (whole
// batches, at least every acknowledged one) and no half-written entry: each
// entry has exactly its index rows and change record, and every index row and
// change record has its entry.
func TestCrashDuringImport(t *testing.T) {
	trials := 3
	if n, err := strconv.Atoi(os.Getenv("MURDERKIT_CRASH_TRIALS")); err == nil && n > 0 {
		trials = n
	}
	for trial := range trials {
		path := filepath.Join(t.TempDir(), "reg")
		cmd, sc := startChild(t, "import", path)
		acked := 0
		target := importBatch * (2 + trial%5)
		for acked < target && sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "acked ") {
				t.Fatalf("child: %s", line)
			}
			acked, _ = strconv.Atoi(strings.TrimPrefix(line, "acked "))
		}
		// Let the next batch get under way (building and writing 2,000
		// entries takes tens of milliseconds here), then kill without warning.
		time.Sleep(time.Duration(3+(trial*7)%20) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		checkPrefix(t, path, acked)
	}
}

func checkPrefix(t *testing.T, path string, acked int) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer s.Close()
	n, err := s.Count(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if n < acked || n%importBatch != 0 {
		t.Fatalf("after kill -9: %d entries; want whole batches of %d and at least the %d acknowledged", n, importBatch, acked)
	}
	rev, _ := s.Revision(ctx)
	if rev != int64(n) {
		t.Fatalf("revision %d, entries %d", rev, n)
	}
	checkEntries(t, s, false)
	rows := checkIndexRows(t, s, n)
	// Change log: one record per revision 1..rev.
	it := s.db.NewIterator(util.BytesPrefix([]byte(pfxChange)), nil)
	changes := 0
	for it.Next() {
		changes++
	}
	it.Release()
	if changes != int(rev) {
		t.Fatalf("%d change records for revision %d", changes, rev)
	}
	t.Logf("kill -9 after %d acknowledged: %d entries, %d index rows, %d change records, consistent", acked, n, rows, changes)
}

const buildCrashN = 100000

// childBuild runs one Build of buildCrashN entries (synced), saying when it
// starts and when it is done.
func childBuild(path string) {
	fmt.Println("start")
	_, err := Build(context.Background(), path, nil, func(add func(registry.Entry) error) error {
		for i := range buildCrashN {
			if err := add(importEntry(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	fmt.Println("built")
	time.Sleep(time.Minute) // stay alive until the parent kills this child
}

// TestCrashDuringBuild kill -9s a child process at a random moment of a
// Build: reopened, the registry is either empty (revision 0, no key but
// the version) or the whole build, with every index row; never a part.
func TestCrashDuringBuild(t *testing.T) {
	trials := 3
	if n, err := strconv.Atoi(os.Getenv("MURDERKIT_CRASH_TRIALS")); err == nil && n > 0 {
		trials = n
	}
	// How long a whole build takes here, to kill within it.
	path := filepath.Join(t.TempDir(), "reg")
	_, sc := startChild(t, "build", path)
	sc.Scan()
	t0 := time.Now()
	if !sc.Scan() || sc.Text() != "built" {
		t.Fatalf("child: %s", sc.Text())
	}
	full := time.Since(t0)
	empty, whole := 0, 0
	for trial := range trials {
		path := filepath.Join(t.TempDir(), "reg")
		cmd, sc := startChild(t, "build", path)
		if !sc.Scan() || sc.Text() != "start" {
			t.Fatalf("child: %s", sc.Text())
		}
		at := time.Duration(int64(full) * int64(1+trial*7%15) / 10) // 10% to 150%
		done := make(chan bool, 1)
		go func() { done <- sc.Scan() && sc.Text() == "built" }()
		var built bool
		select {
		case built = <-done:
		case <-time.After(at):
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		n := checkBuilt(t, path, built)
		if n == 0 {
			empty++
		} else {
			whole++
		}
	}
	t.Logf("a build of %d takes %v; %d trials killed at 10-150%% of that: %d left empty, %d whole", buildCrashN, full, trials, empty, whole)
}

// checkBuilt reopens path after a killed Build and returns its entry
// count, failing unless it is 0 (and built is false) or everything.
func checkBuilt(t *testing.T, path string, built bool) int {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer s.Close()
	n, err := s.Count(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	rev, _ := s.Revision(ctx)
	if n == 0 {
		if built || rev != 0 {
			t.Fatalf("after kill -9: empty registry at revision %d (child said built: %v)", rev, built)
		}
		it := s.db.NewIterator(nil, nil)
		defer it.Release()
		for it.Next() {
			if string(it.Key()) != keyVer {
				t.Fatalf("after kill -9: empty registry holds key %q", it.Key())
			}
		}
		return 0
	}
	if n != buildCrashN || rev != buildCrashN {
		t.Fatalf("after kill -9: %d entries at revision %d; want none or all %d", n, rev, buildCrashN)
	}
	checkEntries(t, s, true)
	checkIndexRows(t, s, n)
	return n
}

// checkEntries checks that the registry holds exactly importEntry 0..n-1,
// in order, each equal to what was imported; with exactRev, entry i is at
// revision i+1.
func checkEntries(t *testing.T, s *Store, exactRev bool) {
	t.Helper()
	i := 0
	_, err := s.List(context.Background(), "", func(e registry.Entry) error {
		want := importEntry(i)
		want.Normalize()
		want.Revision = e.Revision
		if exactRev {
			want.Revision = int64(i + 1)
		}
		if string(registry.EncodeEntry(&e, true)) != string(registry.EncodeEntry(&want, true)) {
			return fmt.Errorf("entry %d is %+v, want %+v", i, e, want)
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkIndexRows checks that the index rows are exactly the union of the
// IndexKeys of importEntry 0..n-1, and returns how many there are.
func checkIndexRows(t *testing.T, s *Store, n int) int {
	t.Helper()
	want := map[string]bool{}
	for k := range n {
		e := importEntry(k)
		for _, key := range registry.IndexKeys(&e) {
			want[key] = true
		}
	}
	it := s.db.NewIterator(util.BytesPrefix([]byte(pfxIndex)), nil)
	defer it.Release()
	rows := 0
	for it.Next() {
		if k := string(it.Key()[len(pfxIndex):]); !want[k] {
			t.Fatalf("index row %q has no entry", k)
		}
		rows++
	}
	if rows != len(want) {
		t.Fatalf("%d index rows, want %d", rows, len(want))
	}
	return rows
}
