package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"syscall"
)

// wholeOut holds a command's machine output until the command knows it
// succeeded, so that nothing partial reaches stdout when the exit status is
// not 0 (a file that changed under the reader, damage found half-way, a
// full disk). Two ways, picked by what stdout is:
//
//   - a regular file that this process writes at its end (`> out.json`,
//     `>> log`; not shared with stderr): the output is written in place,
//     at full speed, and on failure the file is truncated back to the size
//     it had before;
//   - anything else (a pipe, a terminal, a file shared with stderr, an
//     in-memory writer): the output is held — the first MB in memory, the
//     rest in an unlinked temporary file in $TMPDIR (1,000,000 mailboxes are
//     about 300 MB of JSON; holding that in the heap measured 3x slower than
//     the file, in page cache) — and copied to stdout once the command
//     succeeded. A reader of the pipe sees the output only at the end.
//
// /dev/null gets the output directly: nobody can see a partial one there.
type wholeOut struct {
	*bufio.Writer
	dst   io.Writer
	file  *os.File // in place: stdout itself
	start int64    // its size before
	spool *spool   // held
}

// spoolMem is how much output is held in memory before it goes to a
// temporary file (small outputs make no file).
const spoolMem = 1 << 20

// spool holds output in memory, then in an unlinked temporary file.
type spool struct {
	mem []byte
	f   *os.File
}

func (s *spool) Write(p []byte) (int, error) {
	if s.f == nil {
		if len(s.mem)+len(p) <= spoolMem {
			s.mem = append(s.mem, p...)
			return len(p), nil
		}
		f, err := os.CreateTemp("", "mboxconv-out-*")
		if err != nil {
			return 0, fmt.Errorf("stdout: cannot make the temporary file that holds the output until it is complete (set TMPDIR, or redirect stdout to a file): %w", err)
		}
		os.Remove(f.Name()) // gone with the process, whatever happens
		s.f = f
		if _, err := f.Write(s.mem); err != nil {
			return 0, fmt.Errorf("stdout: temporary file in TMPDIR: %w", err)
		}
		s.mem = nil
	}
	n, err := s.f.Write(p)
	if err != nil {
		err = fmt.Errorf("stdout: temporary file in TMPDIR (set TMPDIR, or redirect stdout to a file): %w", err)
	}
	return n, err
}

// copyTo writes what the spool holds to w.
func (s *spool) copyTo(w io.Writer) error {
	if s.f == nil {
		_, err := w.Write(s.mem)
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.Copy(w, s.f)
	return err
}

func (s *spool) close() {
	s.mem = nil
	if s.f != nil {
		s.f.Close()
	}
}

// newWholeOut starts the output of a command writing to stdout (stderr is
// the command's stderr, to tell whether the two share a file).
func newWholeOut(stdout, stderr io.Writer) (*wholeOut, error) {
	w := &wholeOut{dst: stdout}
	if f, ok := stdout.(*os.File); ok {
		if st, err := f.Stat(); err == nil {
			if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(st, null) {
				w.Writer = bufio.NewWriterSize(f, 1<<20)
				return w, nil
			}
			if st.Mode().IsRegular() && !sharesFile(st, stderr) {
				if start, ok := appendOffset(f, st); ok {
					w.file, w.start = f, start
					w.Writer = bufio.NewWriterSize(f, 1<<20)
					return w, nil
				}
			}
		}
	}
	w.spool = &spool{}
	w.Writer = bufio.NewWriterSize(w.spool, 1<<20)
	return w, nil
}

// sharesFile reports whether stderr is the same file as stdout (2>&1):
// truncating stdout would then also take back messages.
func sharesFile(st os.FileInfo, stderr io.Writer) bool {
	f, ok := stderr.(*os.File)
	if !ok {
		return false
	}
	est, err := f.Stat()
	return err == nil && os.SameFile(st, est)
}

// appendOffset returns where this process's writes to f land: its size
// when f was opened with O_APPEND, else its offset, which must be its end
// (bytes after it would be overwritten and then truncated away).
func appendOffset(f *os.File, st os.FileInfo) (int64, bool) {
	fl, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_GETFL, 0)
	if errno != 0 {
		return 0, false
	}
	if fl&syscall.O_APPEND != 0 {
		return st.Size(), true
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil || off != st.Size() {
		return 0, false
	}
	return off, true
}

// commit makes the output visible: flushed in place, or the spool copied
// to stdout.
func (w *wholeOut) commit() error {
	if err := w.Flush(); err != nil {
		w.abort()
		return outputErr(err)
	}
	if w.spool == nil {
		return nil
	}
	defer w.spool.close()
	return outputErr(w.spool.copyTo(w.dst))
}

// abort discards the output: a spool is dropped, a file written in place is
// truncated back. An error there is returned (the caller adds it to its
// own: the partial output could not be taken back).
func (w *wholeOut) abort() error {
	w.Reset(io.Discard)
	if w.spool != nil {
		w.spool.close()
		return nil
	}
	if w.file != nil {
		if err := w.file.Truncate(w.start); err != nil {
			return fmt.Errorf("stdout: could not take back the partial output (truncate to %d bytes): %w", w.start, err)
		}
		if _, err := w.file.Seek(w.start, io.SeekStart); err != nil {
			return fmt.Errorf("stdout: %w", err)
		}
	}
	return nil
}

// finishWhole ends an output: commit when err is nil, else abort and
// return err (with the abort's own failure, if any).
func (w *wholeOut) finish(err error) error {
	if err == nil {
		return w.commit()
	}
	if aerr := w.abort(); aerr != nil {
		return fmt.Errorf("%w; %v", err, aerr)
	}
	return err
}
