package fileio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// ErrShort is returned when the underlying ReaderAt delivers fewer bytes
// than its declared size promised (the file shrank under the reader).
var ErrShort = errors.New("short read: file shrank under the reader")

const (
	blockSize  = 1 << 20
	randomRead = 16 << 10
	streamBack = 64 << 10
)

// Src reads byte ranges of a file of known size through a 1 MiB block cache.
// A slice returned by At is valid until the next call of At.
type Src struct {
	r    io.ReaderAt
	size int64
	buf  []byte
	off  int64 // file offset of buf[0]
	n    int   // valid bytes in buf
	big  []byte
}

// NewSrc returns a Src over r, whose size is size.
func NewSrc(r io.ReaderAt, size int64) *Src { return &Src{r: r, size: size, off: -1} }

// Size is the size given to NewSrc.
func (s *Src) Size() int64 { return s.size }

// At returns n bytes at off. It returns io.ErrUnexpectedEOF when the range
// lies (partly) past the size, and ErrShort (or the read error) when the
// reader delivers less than the size promised.
func (s *Src) At(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > s.size || n > s.size-off {
		return nil, io.ErrUnexpectedEOF
	}
	if s.off >= 0 && off >= s.off && off+n <= s.off+int64(s.n) {
		return s.buf[off-s.off : off-s.off+n], nil
	}
	if n > blockSize/2 {
		if int64(cap(s.big)) < n {
			s.big = make([]byte, n)
		}
		b := s.big[:n]
		if err := s.readFull(b, off); err != nil {
			return nil, err
		}
		return b, nil
	}
	if s.buf == nil {
		s.buf = make([]byte, min(int64(blockSize), s.size))
	}
	// A forward, near miss is a stream: read a whole block. A jump (a
	// log record named by a DELETE, a pointer backwards) reads a small
	// window, so random access does not copy a block per record.
	want := int64(randomRead)
	// (A record straddling the window end is re-read from its start, just
	// behind the window: that is still the stream.)
	if s.off >= 0 && off >= s.off-streamBack && off <= s.off+int64(s.n)+blockSize {
		want = blockSize
	} else if s.off < 0 {
		want = blockSize
	}
	m := min(max(want, n), s.size-off)
	s.off, s.n = -1, 0
	if err := s.readFull(s.buf[:m], off); err != nil {
		return nil, err
	}
	s.off, s.n = off, int(m)
	return s.buf[:n], nil
}

func (s *Src) readFull(b []byte, off int64) error {
	k, err := s.r.ReadAt(b, off)
	if k == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		return ErrShort
	}
	return err
}

// Out is an output file written mostly sequentially whose earlier bytes can
// be patched (forward pointers, checksums) before or after they reach the
// file.
type Out struct {
	f    *os.File
	base int64 // file offset of b[0]
	b    []byte
	err  error
}

// NewOut wraps f, positioned at offset 0.
func NewOut(f *os.File) *Out { return &Out{f: f, b: make([]byte, 0, blockSize)} }

// Offset is the offset of the next byte Write appends.
func (o *Out) Offset() int64 { return o.base + int64(len(o.b)) }

// Write appends p.
func (o *Out) Write(p []byte) {
	if o.err != nil {
		return
	}
	if len(o.b)+len(p) > cap(o.b) {
		o.Flush()
		if len(p) > cap(o.b) {
			if _, err := o.f.WriteAt(p, o.base); err != nil {
				o.err = err
				return
			}
			o.base += int64(len(p))
			return
		}
	}
	o.b = append(o.b, p...)
}

// Patch overwrites len(p) bytes at off, which must already have been
// written.
func (o *Out) Patch(off int64, p []byte) {
	if o.err != nil {
		return
	}
	end := off + int64(len(p))
	if end > o.Offset() {
		o.err = fmt.Errorf("fileio: patch at %d past end %d", off, o.Offset())
		return
	}
	// Part below base goes to the file, the rest to the buffer.
	if off < o.base {
		k := min(end, o.base) - off
		if _, err := o.f.WriteAt(p[:k], off); err != nil {
			o.err = err
			return
		}
		p, off = p[k:], off+k
	}
	if len(p) > 0 {
		copy(o.b[off-o.base:], p)
	}
}

// Flush writes the buffer to the file.
func (o *Out) Flush() error {
	if o.err == nil && len(o.b) > 0 {
		if _, err := o.f.WriteAt(o.b, o.base); err != nil {
			o.err = err
		}
		o.base += int64(len(o.b))
		o.b = o.b[:0]
	}
	return o.err
}

// Err is the first write error.
func (o *Out) Err() error { return o.err }

// CreateTemp makes the temp file for target in target's directory.
func CreateTemp(target string, mode os.FileMode) (*os.File, error) {
	if mode == 0 {
		mode = 0o600
	}
	f, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".tmp*")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// Commit fsyncs and closes tmp, gives it the owner of an existing target,
// and renames it over target while holding a POSIX write lock on the old
// file (as Cyrus's own checkpoint does, so a running Cyrus does not
// interleave a transaction with the switch). The directory is fsynced.
func Commit(tmp *os.File, target string) error {
	name := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(name)
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	var old *os.File
	if st, err := os.Stat(target); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
			if err := tmp.Chown(int(sys.Uid), int(sys.Gid)); err != nil {
				return fail(err)
			}
		}
		if f, err := os.OpenFile(target, os.O_RDWR, 0); err == nil {
			old = f
			lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0}
			if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLKW, &lk); err != nil {
				old.Close()
				return fail(fmt.Errorf("lock %s: %w", target, err))
			}
		}
	}
	if err := tmp.Close(); err != nil {
		if old != nil {
			old.Close()
		}
		os.Remove(name)
		return err
	}
	err := os.Rename(name, target)
	if old != nil {
		old.Close() // drops the lock
	}
	if err != nil {
		os.Remove(name)
		return err
	}
	if d, err := os.Open(filepath.Dir(target)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Abort removes the temp file.
func Abort(tmp *os.File) error {
	tmp.Close()
	return os.Remove(tmp.Name())
}

// Identity is what identifies an open file: device, inode, size.
type Identity struct {
	Dev, Ino uint64
	Size     int64
}

// Stat returns the identity of an open file.
func Stat(f *os.File) (Identity, error) {
	st, err := f.Stat()
	if err != nil {
		return Identity{}, err
	}
	id := Identity{Size: st.Size()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		id.Dev, id.Ino = uint64(sys.Dev), sys.Ino
	}
	return id, nil
}

// PathChanged reports what differs between the identity of the open file
// at open time and what path and f show now ("" when nothing did).
func PathChanged(path string, f *os.File, was Identity) string {
	now, err := Stat(f)
	if err != nil {
		return "stat: " + err.Error()
	}
	if now.Size < was.Size {
		return fmt.Sprintf("truncated from %d to %d bytes", was.Size, now.Size)
	}
	st, err := os.Stat(path)
	if err != nil {
		return "path gone: " + err.Error()
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && (uint64(sys.Dev) != was.Dev || sys.Ino != was.Ino) {
		return "replaced by another file (inode changed)"
	}
	return ""
}

// OpenFile opens path read-only, without locks, and hands the file and its
// size to open (a format's reader constructor). It returns what open
// returned with the file and its identity (for a later PathChanged); on any
// error the file is closed.
func OpenFile[T any](path string, open func(r io.ReaderAt, size int64) (T, error)) (T, *os.File, Identity, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, nil, Identity{}, err
	}
	id, err := Stat(f)
	if err != nil {
		f.Close()
		return zero, nil, Identity{}, err
	}
	v, err := open(f, id.Size)
	if err != nil {
		f.Close()
		return zero, nil, Identity{}, err
	}
	return v, f, id, nil
}
