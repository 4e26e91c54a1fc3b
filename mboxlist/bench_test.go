package mboxlist

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

func benchEntries(n int) []KV {
	kvs := make([]KV, 0, 2*n)
	for i := 0; i < n; i++ {
		e := Entry{Name: fmt.Sprintf("user.u%07d.Sent", i), UniqueID: fmt.Sprintf("%016x-uid", i), Partition: "default",
			UIDValidity: 1600000000, CreatedModseq: 1, FolderModseq: 5, Mtime: 1795327773,
			ACL: acl(fmt.Sprintf("u%07d", i), full, "anyone", "lr")}
		kv, _ := EncodeRecords(V36, &e, nil)
		kvs = append(kvs, kv...)
	}
	sortKVs(kvs)
	return kvs
}

// BenchmarkDecodeRecord36 decodes N and I records.
func BenchmarkDecodeRecord36(b *testing.B) {
	kvs := benchEntries(1000)
	var size int64
	for _, kv := range kvs {
		size += int64(len(kv.Key) + len(kv.Value))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		for _, kv := range kvs {
			if _, err := DecodeRecord(V36, kv.Key, kv.Value, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(kvs)*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDumpJSON is the `dump` path: decode every record of a file's
// worth and write the JSON dump.
func BenchmarkDumpJSON(b *testing.B) {
	kvs := benchEntries(1000)
	b.ReportAllocs()
	for b.Loop() {
		es, err := entriesOf(kvs, V36, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		enc := NewJSONEncoder(io.Discard)
		for i := range es {
			if err := enc.Add(&es[i]); err != nil {
				b.Fatal(err)
			}
		}
		enc.Close()
	}
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkEncodeRecords36 writes N and I records.
func BenchmarkEncodeRecords36(b *testing.B) {
	e := Entry{Name: "user.fred.Sent", UniqueID: "0123456789abcdef-uid", Partition: "default", UIDValidity: 1600000000, CreatedModseq: 1,
		FolderModseq: 5, Mtime: 1795327773, ACL: acl("fred", full, "anyone", "lr")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeRecords(V36, &e, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONDecode parses a dump.
func BenchmarkJSONDecode(b *testing.B) {
	kvs := benchEntries(1000)
	es, err := entriesOf(kvs, V36, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	in := jsonDumpF(es)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		jd := NewJSONDecoder(bytes.NewReader(in))
		for jd.Next() {
		}
		if jd.Err() != nil {
			b.Fatal(jd.Err())
		}
	}
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "entries/s")
}
