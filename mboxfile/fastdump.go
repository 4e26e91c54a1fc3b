package mboxfile

import (
	"context"
	"errors"
	"io"
	"runtime/debug"
	"sync"

	"github.com/murderkit/murderkit/convert"
	"github.com/murderkit/murderkit/mboxlist"
)

// The JSON dump of a 3.6 database file is the hot path (inventory of a
// million-mailbox master): records are read in order by one goroutine,
// decoded and printed by GOMAXPROCS workers in batches, and written in
// order. Memory stays bounded by the batches in flight (a few MB), whatever
// the size of the file.

const (
	batchRecords = 512
	batchBytes   = 256 << 10
)

type dumpBatch struct {
	arena []byte
	kv    [][2]int32 // key end, value end offsets into arena (start = previous end)
	offs  []int64    // file offset of each record (-1: unknown)
	out   []byte
	n     int // entries printed
	err   error
	done  chan struct{}
}

func (b *dumpBatch) add(off int64, k, v []byte) {
	b.offs = append(b.offs, off)
	b.arena = append(b.arena, k...)
	ke := int32(len(b.arena))
	b.arena = append(b.arena, v...)
	b.kv = append(b.kv, [2]int32{ke, int32(len(b.arena))})
}

func (b *dumpBatch) full() bool { return len(b.kv) >= batchRecords || len(b.arena) >= batchBytes }

// work decodes the batch's N records and prints their JSON members, each
// preceded by the ",\n" separator (the writer drops the first one).
func (b *dumpBatch) work(src *Source) {
	names := src.names
	defer close(b.done)
	if need := 2 * len(b.arena); cap(b.out) < need {
		b.out = make([]byte, 0, need)
	}
	start := int32(0)
	for i, kv := range b.kv {
		k, v := b.arena[start:kv[0]], b.arena[kv[0]:kv[1]]
		start = kv[1]
		rec, err := mboxlist.DecodeRecord(mboxlist.V36, k, v, names)
		if err != nil {
			b.err = err
			return
		}
		if err := src.CheckRecord(k, b.offs[i], &rec); err != nil {
			b.err = err
			return
		}
		if rec.Kind != mboxlist.KindEntry || !mboxlist.DumpFilter(&rec.Entry, false) {
			continue
		}
		b.out = append(b.out, ',', '\n')
		b.out = mboxlist.AppendJSONEntry(b.out, &rec.Entry)
		b.n++
	}
}

// writeJSON36 prints a 3.6 database source as `ctl_mboxlist -d` does.
func writeJSON36(ctx context.Context, w io.Writer, src *Source) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The live heap is a few MB of batches; collecting less often saves
	// CPU without growing memory much.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	pool := sync.Pool{New: func() any { return &dumpBatch{} }}
	newBatch := func() *dumpBatch {
		b := pool.Get().(*dumpBatch)
		b.arena, b.kv, b.offs, b.out, b.n, b.err = b.arena[:0], b.kv[:0], b.offs[:0], b.out[:0], 0, nil
		b.done = make(chan struct{})
		return b
	}
	workers := convert.Workers()
	todo := make(chan *dumpBatch, workers)
	ordered := make(chan *dumpBatch, 2*workers+2)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range todo {
				b.work(src)
			}
		}()
	}
	var readErr error
	go func() {
		defer close(ordered)
		defer close(todo)
		b := newBatch()
		send := func() bool {
			select {
			case ordered <- b:
			case <-ctx.Done():
				return false
			}
			todo <- b
			b = newBatch()
			return true
		}
		err := src.IterateAt(func(off int64, k, v []byte) error {
			if len(k) == 0 || k[0] != mboxlist.KeyName {
				return nil // I, A records: not printed by ctl_mboxlist -d
			}
			b.add(off, k, v)
			if b.full() && !send() {
				return ctx.Err()
			}
			return nil
		})
		if err == nil && len(b.kv) > 0 {
			send()
		}
		readErr = err
	}()

	var werr error
	n := 0
	_, werr = io.WriteString(w, "{\n")
	for b := range ordered {
		<-b.done
		if werr != nil {
			continue
		}
		if b.err != nil {
			werr = inputErr(src.Path, b.err)
			cancel()
			continue
		}
		out := b.out
		if n == 0 && len(out) >= 2 {
			out = out[2:]
		}
		n += b.n
		if _, err := w.Write(out); err != nil {
			werr = outputErr(err)
			cancel()
		}
		pool.Put(b)
	}
	wg.Wait()
	if werr != nil {
		return werr
	}
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		return inputErr(src.Path, readErr)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n}\n")
	return outputErr(err)
}
