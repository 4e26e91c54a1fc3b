package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkExport runs `mboxconv export --to twoskip` in process on the
// registry at MBOXCONV_BENCH_REGISTRY (a URL, e.g. a 1M leveldb registry
// built once with `mboxconv import`), or on a registry imported from the
// sample file when unset.
func BenchmarkExport(b *testing.B) {
	ctx := context.Background()
	reg := os.Getenv("MBOXCONV_BENCH_REGISTRY")
	if reg == "" {
		reg = "leveldb://" + filepath.Join(b.TempDir(), "reg")
		if err := runImport(ctx, importOptions{registry: reg, batch: 1000, report: reportFlags{progressMode: "none", summaryFmt: "text"}},
			"../../testdata/sample.twoskip.db", io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	for _, to := range []string{"twoskip", "skiplist"} {
		b.Run(to, func(b *testing.B) {
			dst := filepath.Join(b.TempDir(), "out.db")
			for b.Loop() {
				o := exportOptions{registry: reg, to: to, cyrusVersion: "3.6", reverseACLs: "auto",
					report: reportFlags{progressMode: "none", summaryFmt: "text"}}
				if err := runExport(ctx, o, dst, io.Discard, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
