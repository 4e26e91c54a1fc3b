package mboxlist

import (
	"errors"
	"strings"
	"testing"
)

func TestLegacyLines(t *testing.T) {
	e := Entry{Name: "user.fred", Type: FlagRemote, Server: "be1", Partition: "default", UniqueID: "u1", Mtime: 5, UIDValidity: 6, FolderModseq: 7, CreatedModseq: 8,
		LegacySpecialUse: "\\Sent", ACL: acl("fred", "lrs")}
	want := map[Version]string{
		V24: "user.fred\t1 be1!default fred\tlrs\t\n",
		V25: "user.fred\t1 default fred\tlrs\t\n",
		V30: "user.fred\t1 be1!default fred\tlrs\t\n",
		V34: "user.fred\t1 be1!default fred\tlrs\t\n",
		V36: "user.fred\t16 be1!default fred\tlrs\t>u1 5 6 7 8 \\Sent\n",
	}
	for v, w := range want {
		got, err := AppendLegacyLine(nil, v, &e)
		if err != nil || string(got) != w {
			t.Errorf("%s: %q, %v\nwant %q", v, got, err, w)
		}
	}
	// pre-2.2 line without a type; CRLF
	got, err := ParseLegacyLine(V24, []byte("user.old\tdefault fred\tlrs\t\r"))
	if err != nil || got.Partition != "default" || got.Type != 0 || len(got.ACL) != 1 {
		t.Errorf("pre-2.2 line: %+v %v", got, err)
	}
	d := NewLegacyDecoder(strings.NewReader("user.a\t0 p a\tl\t\n\nuser.b\t4096 p \n"), V34)
	if !d.Next() || d.Entry().Name != "user.a" {
		t.Fatal("first line")
	}
	if d.Next() {
		t.Fatal("bad line accepted")
	}
	var de *DumpError
	if !errors.As(d.Err(), &de) || de.Line != 3 || de.Offset != 24 || !errors.Is(d.Err(), ErrUnknown) {
		t.Fatalf("err = %v", d.Err())
	}
	for _, bad := range []Entry{
		{Name: "x", Partition: "a b"}, {Name: "x", Partition: "a!b"}, {Name: "x\ty", Partition: "p"},
		{Name: "x", Partition: "p", ACL: acl("a\tb", "l")},
	} {
		if _, err := AppendLegacyLine(nil, V34, &bad); !errors.Is(err, ErrUnrepresentable) {
			t.Errorf("AppendLegacyLine(%+v) = %v", bad, err)
		}
	}
	// No partition: 2.4 and 3.6 -u -L lines cannot say it; 2.5–3.4 print
	// glibc's "(null)", as real 3.2.6 does for a tombstone, and read it back.
	for _, v := range []Version{V24, V36} {
		if _, err := AppendLegacyLine(nil, v, &Entry{Name: "x"}); !errors.Is(err, ErrUnrepresentable) {
			t.Errorf("AppendLegacyLine(%v, no partition) = %v", v, err)
		}
	}
	tomb := Entry{Name: "user.bob", Type: TypeEmail | FlagDeleted, ACL: ACL{}}
	for _, v := range []Version{V25, V30, V32, V34} {
		b, err := AppendLegacyLine(nil, v, &tomb)
		if err != nil || string(b) != "user.bob\t16 (null) \n" {
			t.Errorf("AppendLegacyLine(%v, tombstone) = %q, %v", v, b, err)
			continue
		}
		back, err := ParseLegacyLine(v, b[:len(b)-1])
		if err != nil || back.Partition != "" || back.Type != tomb.Type || back.Name != tomb.Name {
			t.Errorf("ParseLegacyLine(%v, %q) = %+v, %v", v, b, back, err)
		}
	}
}

func TestLegacyDecoderLongLines(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	in := "user.a\t0 p " + long + "\tlr\t\nuser.b\t0 p b\tl\t\n"
	d := NewLegacyDecoder(strings.NewReader(in), V34)
	if !d.Next() || len(d.Entry().ACL) != 1 || d.Entry().ACL[0].ID != long {
		t.Fatalf("long line: %v", d.Err())
	}
	if !d.Next() || d.Entry().Name != "user.b" || d.Next() || d.Err() != nil {
		t.Fatalf("after the long line: %v", d.Err())
	}
	d = NewLegacyDecoder(strings.NewReader("user.a\t0 p "+strings.Repeat("y", 2<<20)+"\n"), V34)
	var de *DumpError
	if d.Next() || !errors.As(d.Err(), &de) || de.Line != 1 {
		t.Fatalf("over-long line: %v", d.Err())
	}
}
