package convert

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// TestExportPipelineTakeOrder lists a registry of many batches through the
// pipeline on 1 and on 4 workers: Take sees every entry once, in the
// listing's order, with its records encoded; the workers' digests merged
// equal the registry's digest; an error from Take stops the listing and is
// what Run returns.
func TestExportPipelineTakeOrder(t *testing.T) {
	ctx := context.Background()
	st, err := registry.Open(ctx, "leveldb://"+filepath.Join(t.TempDir(), "reg"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all := entries(3*exportBatchSize + 17)
	if _, err := Import(ctx, sliceSource(all), st, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	var listed []string
	if _, err := st.List(ctx, "", func(e registry.Entry) error { listed = append(listed, e.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	want, err := RegistryDigest(ctx, st, nil, "", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 4} {
		runtime.GOMAXPROCS(procs)
		var got []string
		p := &ExportPipeline{Version: mboxlist.V36, DB: true, Encode: true, EncodeOptions: &mboxlist.EncodeOptions{}}
		p.Take = func(it *ExportItem) error {
			if !it.Matched || it.Skipped || it.EncodeErr != nil || len(it.Records) == 0 {
				t.Fatalf("%d workers: item %+v", procs, it)
			}
			got = append(got, it.Name)
			return nil
		}
		if err := p.Run(ctx, st, "", noProgress{}); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(listed) {
			t.Fatalf("%d workers: %d items, want %d", procs, len(got), len(listed))
		}
		for i := range got {
			if got[i] != listed[i] {
				t.Fatalf("%d workers: item %d is %s, want %s", procs, i, got[i], listed[i])
			}
		}
		d := &Digest{}
		for _, wd := range p.Digests {
			d.Merge(wd)
		}
		if diff := want.Compare(d); diff != nil {
			t.Fatalf("%d workers: digest differs: %v", procs, diff)
		}
		stop := errors.New("taker failed")
		n := 0
		p.Take = func(it *ExportItem) error {
			if n++; n == exportBatchSize+3 {
				return stop
			}
			return nil
		}
		if err := p.Run(ctx, st, "", noProgress{}); !errors.Is(err, stop) || n != exportBatchSize+3 {
			t.Fatalf("%d workers: Run after a failing Take: %v after %d items", procs, err, n)
		}
	}
}
