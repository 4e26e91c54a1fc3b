package leveldb

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childPut creates importEntry 0, 1, 2, ... one Create at a time (synced
// unless nosync), printing "acked N" after each Create returned.
func childPut(path string, nosync bool) {
	s, err := Open(context.Background(), path, &Options{NoSync: nosync})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	for i := 0; ; i++ {
		if _, err := s.Create(context.Background(), importEntry(i)); err != nil {
			fmt.Println("error:", err)
			os.Exit(3)
		}
		fmt.Println("acked", i+1)
	}
}

// run runs a command, failing the test with its output on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// mountImage attaches img to a new loop device and mounts its ext4 at
// dir; the cleanup unmounts and detaches (only this device).
func mountImage(t *testing.T, img, dir string) {
	t.Helper()
	dev := run(t, "losetup", "--find", "--show", img)
	// commit=600: no periodic journal commit during the test; data reaches
	// the device only by fsync (or writeback of pages older than the
	// kernel's dirty_expire, 30 s by default, longer than a trial).
	if out, err := exec.Command("mount", "-t", "ext4", "-o", "commit=600", dev, dir).CombinedOutput(); err != nil {
		exec.Command("losetup", "-d", dev).Run()
		t.Fatalf("mount %s: %v\n%s", dev, err, out)
	}
	t.Cleanup(func() {
		exec.Command("umount", dir).Run()
		exec.Command("losetup", "-d", dev).Run()
	})
}

// TestPowerLoss simulates a power cut under registry writes: a child
// process writes to a registry on an ext4 file system on a loop device,
// acknowledging each write once the registry returned; it is killed with
// SIGKILL and, at once, the loop device's backing file is copied. The
// copy holds what reached the device, which is what a power cut keeps:
// the child's fsynced data, but not the pages still dirty in the page
// cache (the mount does no periodic journal commit, and the kernel writes
// dirty pages back only after 30 s). The copy is mounted (ext4 replays
// its journal) and the registry reopened: every acknowledged write must
// be there, whole, with its index rows and change records.
//
// A control run does the same with NoSync (no fsync at all): it must lose
// acknowledged writes, which shows that the copy really drops unsynced
// data (otherwise the test could not tell).
//
// Needs root (loop devices, mount): MURDERKIT_POWERLOSS=1 (make powerloss);
// MURDERKIT_POWERLOSS_TRIALS sets the trials per mode (default 2).
func TestPowerLoss(t *testing.T) {
	if os.Getenv("MURDERKIT_POWERLOSS") == "" {
		t.Skip("needs root and loop devices: run with MURDERKIT_POWERLOSS=1 (make powerloss)")
	}
	for _, tool := range []string{"losetup", "mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
	}
	trials := 2
	if n, err := strconv.Atoi(os.Getenv("MURDERKIT_POWERLOSS_TRIALS")); err == nil && n > 0 {
		trials = n
	}
	total, totalAcked := 0, 0
	for _, c := range []struct {
		mode   string
		nosync bool
		target int // acknowledged writes before the cut
	}{
		{"put", false, 400},
		{"import", false, 30 * importBatch}, // ~60 MB of leveldb writes: memtable rotations, compactions
		{"put", true, 400},
		{"import", true, 10 * importBatch},
	} {
		for trial := range trials {
			name := fmt.Sprintf("%s-sync=%v-%d", c.mode, !c.nosync, trial)
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				img := filepath.Join(dir, "disk.img")
				run(t, "truncate", "-s", "512M", img)
				run(t, "mkfs.ext4", "-q", "-F", img)
				mnt := filepath.Join(dir, "mnt")
				os.Mkdir(mnt, 0o755)
				mountImage(t, img, mnt)
				reg := filepath.Join(mnt, "reg")
				cmd, sc := startChildEnv(t, c.mode, reg, c.nosync)
				acked := 0
				target := c.target + trial*c.target/3
				for acked < target && sc.Scan() {
					line := sc.Text()
					if !strings.HasPrefix(line, "acked ") {
						t.Fatalf("child: %s", line)
					}
					acked, _ = strconv.Atoi(strings.TrimPrefix(line, "acked "))
				}
				time.Sleep(time.Duration(trial*3) * time.Millisecond) // let the next write get under way
				// The cut: the child dies, the device's contents are taken.
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				cmd.Wait()
				cut := filepath.Join(dir, "cut.img")
				run(t, "cp", "--sparse=always", img, cut)
				// After the power comes back: mount the copy.
				mnt2 := filepath.Join(dir, "mnt2")
				os.Mkdir(mnt2, 0o755)
				mountImage(t, cut, mnt2)
				if c.nosync {
					// Without fsync even the registry's manifest may be
					// lost: it does not open, which is a loss as well.
					got, err := countAfterCut(t, filepath.Join(mnt2, "reg"), false)
					t.Logf("control (no fsync): %d acknowledged, %d survived the cut (open: %v)", acked, got, err)
					if got >= acked {
						t.Fatalf("control without fsync kept all %d acknowledged writes (%d): the cut does not drop unsynced data, so the synced runs prove nothing", acked, got)
					}
					return
				}
				got, _ := countAfterCut(t, filepath.Join(mnt2, "reg"), true)
				if got < acked {
					t.Fatalf("power cut lost acknowledged writes: %d acknowledged, %d in the registry", acked, got)
				}
				total++
				totalAcked += acked
				t.Logf("%d acknowledged, %d after the cut (whole and consistent)", acked, got)
			})
		}
	}
	t.Logf("%d synced power cuts, %d acknowledged writes, 0 lost", total, totalAcked)
}

// startChildEnv is startChild with REG_NOSYNC.
func startChildEnv(t *testing.T, mode, path string, nosync bool) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	if nosync {
		t.Setenv("REG_NOSYNC", "1")
	} else {
		t.Setenv("REG_NOSYNC", "")
	}
	return startChild(t, mode, path)
}

// countAfterCut reopens the registry after the cut and checks it: entries
// 0..n-1 exactly (a prefix of what the child wrote), their index rows and
// one change record per revision. An absent registry counts 0.
// With mustOpen, a registry that does not open fails the test; else the
// error is returned with 0.
func countAfterCut(t *testing.T, path string, mustOpen bool) (int, error) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		return 0, err
	}
	ctx := context.Background()
	s, err := Open(ctx, path, nil)
	if err != nil {
		if !mustOpen {
			return 0, err
		}
		t.Fatalf("reopen after the cut: %v", err)
	}
	defer s.Close()
	n, err := s.Count(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	checkEntries(t, s, false)
	checkIndexRows(t, s, n)
	return n, nil
}
