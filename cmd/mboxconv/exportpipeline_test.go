package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/internal/exitcode"
)

// pipelineDump writes a 3.6 JSON dump of n mailboxes (many export batches);
// every 97th has a name history (its I record carries it).
func pipelineDump(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("{\n")
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		name := fmt.Sprintf("user.u%05d", i)
		hist := "[]"
		if i%97 == 0 {
			hist = fmt.Sprintf(`[{"name": "user.old%05d", "mtime": "1700000000", "uidvalidity": "%d", "createdmodseq": "1", "foldermodseq": "2", "mbtype": "e", "partition": "p1"}]`, i, 1000+i)
		}
		fmt.Fprintf(&b, `"%s": {"name": "%s", "mtime": "%d", "uidvalidity": "%d", "createdmodseq": "1", "foldermodseq": "%d", "mbtype": "e", "partition": "p%d", "server": "be%d", "acl": {"u%05d": "lrswipkxtecdan", "admin": "lrswipkxtecda"}, "uniqueid": "%08x-0000-4000-8000-%012x", "name_history": %s}`,
			name, name, 1700000000+i, 1600000000+i, i+1, i%3, i%2, i, uint32(i*2654435761), i, hist)
	}
	b.WriteString("\n}\n")
	p := filepath.Join(t.TempDir(), "many.json")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExportPipelineOrder exports a registry of many batches with losses
// spread over it, on 1 and on 4 workers: the loss lines come in the
// registry's order, the files are byte-identical to each other and to
// `convert` of the same entries (which has no pipeline), and each export
// verified itself (the read-back digest on several workers, with name
// histories).
func TestExportPipelineOrder(t *testing.T) {
	const n = 3000
	src := pipelineDump(t, n)
	reg := "leveldb://" + filepath.Join(t.TempDir(), "reg")
	if out, stderr, code := run(t, "import", src, "--registry", reg); code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, out, stderr)
	}
	lossAt := []int{3, 700, 701, 1500, 2999}
	for _, i := range lossAt {
		addLocation(t, reg, fmt.Sprintf("user.u%05d", i), "be9", "p9")
	}
	var want []string
	for _, i := range lossAt {
		want = append(want, fmt.Sprintf("mboxconv: loss: user.u%05d: locations: 2 locations", i))
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var files [][]byte
	for _, procs := range []int{1, 4} {
		runtime.GOMAXPROCS(procs)
		for _, to := range []string{"twoskip", "skiplist"} {
			dst := filepath.Join(t.TempDir(), "out."+to)
			_, stderr, code := run(t, "export", "--registry", reg, dst, "--to", to)
			if code != exitcode.Lossy {
				t.Fatalf("%d workers, %s without --lossy: exit %d\n%s", procs, to, code, stderr)
			}
			var got []string
			for _, l := range strings.Split(stderr, "\n") {
				if strings.HasPrefix(l, "mboxconv: loss: ") {
					got = append(got, l[:len(want[0])])
				}
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("%d workers: loss lines\n%s\nwant\n%s", procs, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			out, stderr, code := run(t, "export", "--registry", reg, dst, "--to", to, "--lossy")
			if code != 0 || !strings.Contains(out, fmt.Sprintf("exported %d mailboxes", n)) || !strings.Contains(out, "verified") {
				t.Fatalf("%d workers, %s: exit %d\n%s%s", procs, to, code, out, stderr)
			}
			b, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			if to == "skiplist" && len(b) >= 48 {
				copy(b[44:48], "\x00\x00\x00\x00") // the header's last-recovery time
			}
			files = append(files, b)
		}
	}
	if !bytes.Equal(files[0], files[2]) || !bytes.Equal(files[1], files[3]) {
		t.Fatal("the export differs between 1 and 4 workers")
	}
	// convert writes the same entries (primary locations) without the
	// pipeline: the same bytes.
	js := filepath.Join(t.TempDir(), "reg.json")
	if out, stderr, code := run(t, "export", "--registry", reg, js, "--to", "json", "--lossy"); code != 0 {
		t.Fatalf("json export: exit %d\n%s%s", code, out, stderr)
	}
	conv := filepath.Join(t.TempDir(), "conv.db")
	if out, stderr, code := run(t, "convert", js, conv, "--to", "twoskip"); code != 0 {
		t.Fatalf("convert: exit %d\n%s%s", code, out, stderr)
	}
	if b, _ := os.ReadFile(conv); !bytes.Equal(b, files[0]) {
		t.Fatalf("the export (%d bytes) differs from convert's file (%d bytes)", len(files[0]), len(b))
	}
}
