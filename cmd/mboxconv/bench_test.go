package main

import (
	"context"
	"io"
	"os"
	"testing"
)

// BenchmarkDump runs `mboxconv dump` (JSON) and `dump --raw` in process on
// the sample, or on MBOXCONV_BENCH_FILE when set (bench/dump.sh's file).
func BenchmarkDump(b *testing.B) {
	path := os.Getenv("MBOXCONV_BENCH_FILE")
	if path == "" {
		path = "../../testdata/sample.twoskip.db"
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, raw := range []bool{false, true} {
		name := "json"
		if raw {
			name = "raw"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(fi.Size())
			for b.Loop() {
				if err := runDump(context.Background(), dumpOptions{raw: raw, format: "json", cyrusVersion: "3.6"}, path, io.Discard, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
