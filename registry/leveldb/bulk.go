package leveldb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/comparer"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/journal"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/table"

	"github.com/murderkit/murderkit/internal/extsort"
	"github.com/murderkit/murderkit/registry"
)

// Build refuses a registry that already holds anything (ErrNotEmpty) and
// entries that do not come in strictly increasing dbname order
// (ErrUnsorted); in both cases nothing is written and the caller can use
// Store.Import instead.
var (
	ErrNotEmpty = errors.New("leveldb registry is not empty")
	ErrUnsorted = errors.New("entries are not in strictly increasing dbname order")
)

// Build fills an empty registry at path (created if absent) with the
// entries feed passes to add, faster than Store.Import can: instead of going
// through leveldb's memtable and compactions key by key, it writes the
// sorted tables of the finished registry directly and installs them with a
// new leveldb manifest, the way leveldb's own compaction installs a table.
// The result holds the same entry and reverse-ACL index keys, byte for
// byte, as Store.Import of the same entries into an empty registry
// (revisions 1..n in feed order), with one difference: the change log
// starts after the import (the floor is n+1), so Watch from a revision
// before n answers ErrCompacted and the watcher lists instead, as after a
// long outage.
//
// Entries must come in strictly increasing registry.DBName order (a Cyrus
// 3.x mailboxes.db's N records are); ErrUnsorted otherwise. Nothing is
// visible until the end: the new manifest is installed in one atomic
// rename, so a crash or an error at any point leaves the registry as empty
// as it was (table files written so far are removed, or by leveldb at the
// next open). The directory is locked for the whole build, as by Open.
//
// Memory is bounded whatever the number of entries: the reverse-ACL rows,
// which sort by identifier rather than by dbname, go through an external
// sort whose runs are written to a temporary directory inside path
// ("bulk-sort-*", removed at the end, and at the start of the next Build
// after a crash) and merged into the registry's tables at the end.
func Build(ctx context.Context, path string, o *Options, feed func(add func(registry.Entry) error) error) (registry.ImportStats, error) {
	if o == nil {
		o = &Options{}
	}
	var st registry.ImportStats
	stor, err := storage.OpenFile(path, false)
	if err != nil {
		return st, openErr(path, err)
	}
	defer stor.Close()
	dbo := dbOptions(o)
	if err := checkEmpty(stor, dbo, path); err != nil {
		return st, err
	}
	b, err := newBuilder(stor, o, dbo, path)
	if err != nil {
		return st, &registry.Error{Op: "import", Err: registry.Unavailable(err)}
	}
	ok := false
	defer func() {
		if !ok {
			b.abort()
		}
		b.removeSort()
	}()
	b.start()
	ferr := feed(func(e registry.Entry) error {
		if err := b.add(ctx, e); err != nil {
			return err
		}
		return nil
	})
	werr := b.finish(ferr != nil)
	if errors.Is(ferr, errWriting) {
		ferr, werr = nil, b.writerErr()
	}
	if ferr != nil {
		return st, ferr
	}
	if werr != nil {
		return st, &registry.Error{Op: "import", Err: registry.Unavailable(werr)}
	}
	if b.n == 0 {
		ok = true
		return st, nil
	}
	if err := b.install(); err != nil {
		return st, &registry.Error{Op: "import", Err: registry.Unavailable(err)}
	}
	ok = true
	// Open once: leveldb checks every table the manifest names and removes
	// the empty registry's old manifest and journal.
	db, err := goleveldb.Open(stor, dbo)
	if err != nil {
		return st, &registry.Error{Op: "import", Err: fmt.Errorf("%w: leveldb registry %s after build: %v", registry.ErrUnavailable, path, err)}
	}
	if err := db.Close(); err != nil {
		return st, &registry.Error{Op: "import", Err: registry.Unavailable(err)}
	}
	st.Created = int(b.n)
	return st, nil
}

// checkEmpty opens the database on stor (creating it if absent) and fails
// with ErrNotEmpty when it holds any key but the format version.
func checkEmpty(stor storage.Storage, dbo *opt.Options, path string) error {
	db, err := goleveldb.Open(stor, dbo)
	if err != nil {
		return &registry.Error{Op: "open", Err: fmt.Errorf("%w: leveldb registry %s: %v", registry.ErrUnavailable, path, err)}
	}
	defer db.Close()
	it := db.NewIterator(nil, nil)
	defer it.Release()
	for it.Next() {
		if string(it.Key()) == keyVer && (string(it.Value()) == version || string(it.Value()) == version1) {
			continue
		}
		return &registry.Error{Op: "import", Err: fmt.Errorf("%w: %s holds key %q", ErrNotEmpty, path, it.Key())}
	}
	if err := it.Error(); err != nil {
		return &registry.Error{Op: "import", Err: registry.Unavailable(err)}
	}
	return nil
}

// bulkSeq is the sequence number of every key Build writes; later writes
// get higher ones.
const bulkSeq = 1

// builder writes three sorted streams of tables: entries (then the
// revision, floor and version keys, which sort after them), listable rows
// ("xl"), both in feed order, and the ACL rows ("xa"), which go through an
// external sort by row prefix (identifier) while feeding, ties in feed
// (dbname) order, and are written at the end.
type builder struct {
	stor storage.Storage
	o    *Options
	to   *opt.Options // table writer options: internal-key comparer and filter
	num  atomic.Int64 // last file number used

	n    int64  // entries added (= last revision)
	prev string // last dbname

	chunk    []bulkItem
	chE, chX chan []bulkItem
	wg       sync.WaitGroup
	errE     error       // the entry writer's first error
	errX     error       // the index writer's first error
	wfail    atomic.Bool // set with either: add stops feeding

	ent, lst, acl *tableStream

	sortDir string          // where the ACL rows' sort runs go
	rows    *extsort.Sorter // ACL rows: key the row prefix, value the dbname
	rowErr  error           // the first error adding to rows
	pbuf    []byte          // scratch for ACL row prefixes
}

// bulkSortBudget is the bytes of ACL rows the builder buffers before it
// writes them as a sorted run (two such buffers exist). A variable for
// the test that checks the rows really go through runs on disk.
var bulkSortBudget = 32 << 20

// sortDirPrefix names the temporary directory of the ACL rows' sort runs
// inside the registry directory (leveldb ignores names it did not make).
const sortDirPrefix = "bulk-sort-"

type bulkItem struct {
	db string
	e  registry.Entry
}

const bulkChunk = 1024

// errWriting stops the feed when writing tables failed; Build returns the
// writer's own error instead.
var errWriting = errors.New("leveldb build: writing tables failed")

func newBuilder(stor storage.Storage, o *Options, dbo *opt.Options, path string) (*builder, error) {
	fds, err := stor.List(storage.TypeAll)
	if err != nil {
		return nil, err
	}
	// Runs a crashed build left (the directory is locked: no other build
	// is running).
	if des, err := os.ReadDir(path); err == nil {
		for _, de := range des {
			if strings.HasPrefix(de.Name(), sortDirPrefix) {
				os.RemoveAll(filepath.Join(path, de.Name()))
			}
		}
	}
	dir, err := os.MkdirTemp(path, sortDirPrefix)
	if err != nil {
		return nil, err
	}
	var max int64
	for _, fd := range fds {
		if fd.Num > max {
			max = fd.Num
		}
	}
	b := &builder{stor: stor, o: o, sortDir: dir, rows: extsort.NewSorter(dir, bulkSortBudget, bytes.Compare)}
	b.num.Store(max)
	b.to = &opt.Options{
		Comparer:    ikeyComparer{},
		Filter:      ikeyFilter{dbo.Filter},
		Compression: dbo.GetCompression(),
		BlockSize:   dbo.GetBlockSize(),
	}
	target := dbo.GetCompactionTableSize(0)
	b.ent = &tableStream{b: b, target: target}
	b.lst = &tableStream{b: b, target: target}
	b.acl = &tableStream{b: b, target: target}
	return b, nil
}

// start runs the two goroutines that take every chunk the caller's
// goroutine (which reads and checks) passes: one encodes entries into the
// entry stream, the other writes the listable stream and groups the ACL
// rows. They only read the chunk.
func (b *builder) start() {
	b.chE = make(chan []bulkItem, 8)
	b.chX = make(chan []bulkItem, 8)
	run := func(ch chan []bulkItem, errp *error, write func(*bulkItem) error) {
		defer b.wg.Done()
		for chunk := range ch {
			if *errp != nil {
				continue // drain
			}
			for i := range chunk {
				if err := write(&chunk[i]); err != nil {
					*errp = err
					b.wfail.Store(true)
					break
				}
			}
		}
	}
	b.wg.Add(2)
	var k, v, xk []byte
	go run(b.chE, &b.errE, func(it *bulkItem) error {
		k = append(append(k[:0], pfxEntry...), it.db...)
		v = registry.AppendEntryBinary(v[:0], &it.e, true)
		return b.ent.append(k, v)
	})
	go run(b.chX, &b.errX, func(it *bulkItem) error { return b.writeIndex(it, &xk) })
}

func (b *builder) writeIndex(it *bulkItem, k *[]byte) error {
	listable := registry.ACLIndexPrefixes(&it.e, b.pbuf[:0], func(p []byte) {
		b.pbuf = p[:0] // keep the grown buffer
		if b.rowErr == nil {
			b.rowErr = b.rows.Add(p, []byte(it.db))
		}
	})
	if b.rowErr != nil {
		return b.rowErr
	}
	if !listable {
		return nil
	}
	*k = append(append(append((*k)[:0], pfxIndex...), registry.IndexListable...), it.db...)
	return b.lst.append(*k, nil)
}

func (b *builder) add(ctx context.Context, e registry.Entry) error {
	if err := registry.Prepare(&e); err != nil {
		return registry.E("import", e.Name, err)
	}
	db := registry.DBName(e.Name)
	if b.n > 0 && db <= b.prev {
		return registry.E("import", e.Name, fmt.Errorf("%w: %q after %q", ErrUnsorted, registry.NameFromDB(db), registry.NameFromDB(b.prev)))
	}
	if b.n%bulkChunk == 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	b.prev = db
	b.n++
	e.Revision = b.n
	b.chunk = append(b.chunk, bulkItem{db: db, e: e})
	if len(b.chunk) == bulkChunk {
		if b.wfail.Load() {
			return errWriting
		}
		b.chE <- b.chunk
		b.chX <- b.chunk
		b.chunk = make([]bulkItem, 0, bulkChunk)
	}
	return nil
}

func (b *builder) writerErr() error {
	if b.errE != nil {
		return b.errE
	}
	return b.errX
}

// finish writes what is left: the rest of the entry and listable streams
// (on the writer goroutine), then the ACL rows in key order and the meta
// keys. With failed set it only stops the goroutine.
func (b *builder) finish(failed bool) error {
	if len(b.chunk) > 0 && !failed {
		b.chE <- b.chunk
		b.chX <- b.chunk
	}
	b.chunk = nil
	close(b.chE)
	close(b.chX)
	b.wg.Wait()
	if failed {
		return nil
	}
	if err := b.writerErr(); err != nil {
		return err
	}
	if b.n > 0 {
		// Rows by prefix, each prefix's entries in dbname (feed) order; an
		// ACL that names one identifier twice gives one row.
		var k, lastP, lastDB []byte
		n := 0
		err := b.rows.Merge(func(p, db []byte) error {
			if n > 0 && bytes.Equal(p, lastP) && bytes.Equal(db, lastDB) {
				return nil
			}
			n++
			lastP, lastDB = append(lastP[:0], p...), append(lastDB[:0], db...)
			k = append(append(append(k[:0], pfxIndex...), p...), db...)
			return b.acl.append(k, nil)
		})
		if err != nil {
			return err
		}
		if err := b.acl.close(); err != nil {
			return err
		}
	}
	if b.n == 0 {
		return nil
	}
	for _, kv := range [][2][]byte{
		{[]byte(keyFloor), be64(b.n + 1)},
		{[]byte(keyRev), be64(b.n)},
		{[]byte(keyVer), []byte(version)},
	} {
		if err := b.ent.append(kv[0], kv[1]); err != nil {
			return err
		}
	}
	if err := b.ent.close(); err != nil {
		return err
	}
	return b.lst.close()
}

// install writes a manifest naming every table and makes it current.
func (b *builder) install() error {
	var tables []tableMeta
	var total int64
	for _, s := range []*tableStream{b.ent, b.lst, b.acl} {
		tables = append(tables, s.done...)
		for _, t := range s.done {
			total += t.size
		}
	}
	// The lowest level whose size budget holds the whole import at most
	// half full: leveldb will not compact it further down on its own.
	level := 1
	for level < 6 && float64(total) > float64(b.to.GetCompactionTotalSize(level))/2 {
		level++
	}
	jnum := b.num.Add(1) // the journal number: no file; older journals are obsolete
	mnum := b.num.Add(1)
	var rec []byte
	uv := func(x uint64) { rec = binary.AppendUvarint(rec, x) }
	bs := func(p []byte) { uv(uint64(len(p))); rec = append(rec, p...) }
	// Field tags of leveldb's version edit (the manifest record format).
	const (
		tagComparer    = 1
		tagJournalNum  = 2
		tagNextFileNum = 3
		tagSeqNum      = 4
		tagAddTable    = 7
	)
	uv(tagComparer)
	bs([]byte(comparer.DefaultComparer.Name()))
	uv(tagJournalNum)
	uv(uint64(jnum))
	uv(tagNextFileNum)
	uv(uint64(mnum + 1))
	uv(tagSeqNum)
	uv(bulkSeq)
	for _, t := range tables {
		uv(tagAddTable)
		uv(uint64(level))
		uv(uint64(t.num))
		uv(uint64(t.size))
		bs(t.imin)
		bs(t.imax)
	}
	fd := storage.FileDesc{Type: storage.TypeManifest, Num: mnum}
	f, err := b.stor.Create(fd)
	if err != nil {
		return err
	}
	jw := journal.NewWriter(f)
	w, err := jw.Next()
	if err == nil {
		_, err = w.Write(rec)
	}
	if err == nil {
		err = jw.Close()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = b.stor.SetMeta(fd)
	}
	if err != nil {
		b.stor.Remove(fd)
	}
	return err
}

// removeSort removes the ACL rows' sort runs and their directory.
func (b *builder) removeSort() {
	b.rows.Close()
	os.RemoveAll(b.sortDir)
}

// abort removes every table file written (best effort: leveldb removes
// files no manifest names at the next open anyway).
func (b *builder) abort() {
	for _, s := range []*tableStream{b.ent, b.lst, b.acl} {
		s.discard()
	}
}

type tableMeta struct {
	num, size  int64
	imin, imax []byte
}

// tableStream writes keys in increasing order into tables of about target
// bytes each.
type tableStream struct {
	b      *builder
	target int
	fd     storage.FileDesc
	f      storage.Writer
	w      *table.Writer
	imin   []byte
	ikey   []byte
	done   []tableMeta
	failed []int64 // numbers of files begun but not finished
}

func (s *tableStream) append(ukey, val []byte) error {
	s.ikey = append(append(s.ikey[:0], ukey...), 0, 0, 0, 0, 0, 0, 0, 0)
	binary.LittleEndian.PutUint64(s.ikey[len(ukey):], bulkSeq<<8|1) // 1: a value, not a deletion
	if s.w == nil {
		s.fd = storage.FileDesc{Type: storage.TypeTable, Num: s.b.num.Add(1)}
		f, err := s.b.stor.Create(s.fd)
		if err != nil {
			return err
		}
		s.f = f
		s.w = table.NewWriter(f, s.b.to, nil, 0)
		s.imin = append([]byte(nil), s.ikey...)
	}
	if err := s.w.Append(s.ikey, val); err != nil {
		return err
	}
	if s.w.BytesLen() >= s.target {
		return s.close()
	}
	return nil
}

// close finishes the current table, if any.
func (s *tableStream) close() error {
	if s.w == nil {
		return nil
	}
	w, f := s.w, s.f
	s.w, s.f = nil, nil
	err := w.Close()
	if err == nil && !s.b.o.NoSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.failed = append(s.failed, s.fd.Num)
		return err
	}
	s.done = append(s.done, tableMeta{num: s.fd.Num, size: int64(w.BytesLen()), imin: s.imin, imax: append([]byte(nil), s.ikey...)})
	return nil
}

func (s *tableStream) discard() {
	if s.f != nil {
		s.f.Close()
		s.failed = append(s.failed, s.fd.Num)
		s.w, s.f = nil, nil
	}
	for _, t := range s.done {
		s.b.stor.Remove(storage.FileDesc{Type: storage.TypeTable, Num: t.num})
	}
	for _, n := range s.failed {
		s.b.stor.Remove(storage.FileDesc{Type: storage.TypeTable, Num: n})
	}
	s.done, s.failed = nil, nil
}

// ikeyComparer orders leveldb internal keys (user key, then 8 bytes of
// sequence<<8|kind, little-endian) as leveldb does: by user key, then by
// descending sequence. It never shortens index keys (a valid choice).
type ikeyComparer struct{}

func (ikeyComparer) Compare(a, b []byte) int {
	if c := bytes.Compare(a[:len(a)-8], b[:len(b)-8]); c != 0 {
		return c
	}
	x, y := binary.LittleEndian.Uint64(a[len(a)-8:])>>8, binary.LittleEndian.Uint64(b[len(b)-8:])>>8
	switch {
	case x > y:
		return -1
	case x < y:
		return 1
	}
	return 0
}
func (ikeyComparer) Name() string                      { return comparer.DefaultComparer.Name() }
func (ikeyComparer) Separator(dst, a, b []byte) []byte { return nil }
func (ikeyComparer) Successor(dst, b []byte) []byte    { return nil }

// ikeyFilter filters on the user key of an internal key, as leveldb's own
// table writer does, so that the database's reads find what it says.
type ikeyFilter struct{ filter.Filter }

func (f ikeyFilter) Contains(flt, key []byte) bool {
	return f.Filter.Contains(flt, key[:len(key)-8])
}

func (f ikeyFilter) NewGenerator() filter.FilterGenerator {
	return ikeyFilterGen{f.Filter.NewGenerator()}
}

type ikeyFilterGen struct{ filter.FilterGenerator }

func (g ikeyFilterGen) Add(key []byte) { g.FilterGenerator.Add(key[:len(key)-8]) }
