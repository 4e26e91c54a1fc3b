package fileio

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// Out against a plain byte slice model: appends of every size and patches
// below, across and above the flushed boundary.
func TestOutPatchModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	f, err := os.Create(filepath.Join(t.TempDir(), "o"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o := NewOut(f)
	var model []byte
	for i := 0; i < 3000; i++ {
		if rng.IntN(3) > 0 || len(model) == 0 {
			n := rng.IntN(4096)
			if rng.IntN(200) == 0 {
				n = blockSize + rng.IntN(1000)
			}
			p := make([]byte, n)
			for j := range p {
				p[j] = byte(rng.Uint32())
			}
			o.Write(p)
			model = append(model, p...)
		} else {
			off := rng.IntN(len(model))
			n := min(rng.IntN(300), len(model)-off)
			p := make([]byte, n)
			for j := range p {
				p[j] = byte(rng.Uint32())
			}
			o.Patch(int64(off), p)
			copy(model[off:], p)
		}
		if o.Offset() != int64(len(model)) {
			t.Fatalf("Offset %d, model %d", o.Offset(), len(model))
		}
	}
	if err := o.Flush(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(f.Name())
	if !bytes.Equal(got, model) {
		t.Fatalf("file differs from model (%d vs %d bytes)", len(got), len(model))
	}
	o.Patch(int64(len(model)), []byte{1})
	if o.Err() == nil {
		t.Fatal("patch past the end accepted")
	}
}

func TestSrc(t *testing.T) {
	data := make([]byte, 3*blockSize+17)
	for i := range data {
		data[i] = byte(i * 7)
	}
	s := NewSrc(bytes.NewReader(data), int64(len(data)))
	rng := rand.New(rand.NewPCG(2, 2))
	for i := 0; i < 2000; i++ {
		off := rng.Int64N(int64(len(data)))
		n := rng.Int64N(int64(len(data))-off+1) % (blockSize + 100)
		b, err := s.At(off, n)
		if err != nil || !bytes.Equal(b, data[off:off+n]) {
			t.Fatalf("At(%d,%d): %v", off, n, err)
		}
	}
	if _, err := s.At(int64(len(data))-1, 2); err != io.ErrUnexpectedEOF {
		t.Fatalf("past end: %v", err)
	}
	short := NewSrc(bytes.NewReader(data[:100]), 200)
	if _, err := short.At(50, 100); err != ErrShort {
		t.Fatalf("shrunk reader: %v", err)
	}
}

type countingReader struct {
	r *bytes.Reader
	n int
}

func (c *countingReader) ReadAt(b []byte, off int64) (int, error) { c.n++; return c.r.ReadAt(b, off) }

// The readers' pattern — a record's fixed part, then the whole record from
// its start — must stream in whole blocks even when records straddle the
// window end (it once re-read a small window per block, 100x the reads).
func TestSrcStreamsStraddlingRecords(t *testing.T) {
	data := make([]byte, 8*blockSize)
	c := &countingReader{r: bytes.NewReader(data)}
	s := NewSrc(c, int64(len(data)))
	for off := int64(0); off+300 <= int64(len(data)); off += 300 {
		if _, err := s.At(off, 8); err != nil {
			t.Fatal(err)
		}
		if _, err := s.At(off+200, 8); err != nil {
			t.Fatal(err)
		}
		if _, err := s.At(off, 300); err != nil {
			t.Fatal(err)
		}
	}
	if c.n > 2*8+2 {
		t.Fatalf("%d reads for %d blocks", c.n, 8)
	}
}
