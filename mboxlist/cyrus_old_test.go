package mboxlist

import (
	"bytes"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/murderkit/murderkit/internal/cyrustest"
)

// oldCorpus is the corpus as each old version can hold it, plus the murder
// entries old masters and frontends have: remote without uniqueid, reserved
// remote, a local entry without uniqueid.
func oldCorpus(v Version) []Entry {
	var out []Entry
	for _, e := range corpus() {
		ce, losses := Convert(V36, v, &e)
		skip := false
		for _, l := range losses {
			if l.Field == "mbtype" {
				skip = true
			}
		}
		if !skip {
			out = append(out, ce)
		}
	}
	murder := []Entry{
		{Name: "user.front", Type: FlagRemote, Partition: "default", Server: "backend1", ACL: acl("front", full, "anyone", "lr")},
		{Name: "user.front.Res", Type: FlagRemote | FlagReserve, Partition: "p2", Server: "backend2", ACL: acl("front", full)},
		{Name: "user.local", Partition: "default", ACL: acl("local", full, "bob", "lr")},
	}
	for _, e := range murder {
		ce, _ := Convert(V36, v, &e)
		out = append(out, ce)
	}
	return out
}

// TestCyrusOldFormats writes 2.4, 2.5, 3.0, 3.2 and 3.4 style records with
// Cyrus's own engine (cyr_dbtool batch), reads them back with Cyrus
// (cvt_cyrusdb, cyr_dbtool show), and checks that the Detector names the
// version and the Decoder returns the entries. Then it converts them to 3.6
// with Convert and EncodeRecords, and real `ctl_mboxlist -d` prints exactly
// our JSON of the converted entries: remote types kept (`r`, with the `l`
// of upgraded entries), entries without a uniqueid kept, reserved kept.
func TestCyrusOldFormats(t *testing.T) {
	for _, v := range []Version{V24, V25, V30, V32, V34} {
		t.Run(v.String(), func(t *testing.T) {
			c := cyrustest.NewConfig(t)
			in := oldCorpus(v)
			o := &EncodeOptions{ReverseACLs: v >= V30, Admins: []string{"cyrus", "admin"}, ReverseUniqueIDs: v == V34}
			var kvs []KV
			for i := range in {
				kv, err := EncodeRecords(v, &in[i], o)
				if err != nil {
					t.Fatalf("%s: %v", in[i].Name, err)
				}
				kvs = append(kvs, kv...)
			}
			if m := RACLMarker(v); m != nil {
				kvs = append(kvs, *m)
			}
			if m := RUNQMarker(v); m != nil {
				kvs = append(kvs, *m)
			}
			sortKVs(kvs)
			db := c.MailboxesDB()
			writeRecords(t, c, db, kvs)
			back := readRecords(t, c, db)
			if d := cmp.Diff(kvs, back); d != "" {
				t.Fatalf("records read back (-written +cyrus):\n%s", d)
			}
			var det Detector
			for _, kv := range back {
				det.Add(kv.Key, kv.Value)
			}
			if got := det.Version(); got != v {
				t.Errorf("Detector = %s, want %s", got, v)
			}
			got, err := entriesOf(back, v, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			sortEntries(in)
			if diff := cmp.Diff(in, got); diff != "" {
				t.Errorf("decoded (-written +decoded):\n%s", diff)
			}

			// To 3.6, our way: nothing dropped, remote kept.
			c36 := cyrustest.NewConfig(t)
			var up []Entry
			var kv36 []KV
			for i := range got {
				e, losses := Convert(v, V36, &got[i])
				if len(losses) != 0 {
					t.Errorf("%s: losses converting up: %v", e.Name, losses)
				}
				up = append(up, e)
				kv, err := EncodeRecords(V36, &e, nil)
				if err != nil {
					t.Fatal(err)
				}
				kv36 = append(kv36, kv...)
			}
			sortKVs(kv36)
			writeRecords(t, c36, c36.MailboxesDB(), kv36)
			var sel []Entry
			for _, kv := range kv36 {
				if kv.Key[0] != 'N' {
					continue
				}
				for _, e := range up {
					if "N"+DBName(e.Name, nil) == string(kv.Key) && DumpFilter(&e, false) {
						e.History = nil
						sel = append(sel, e)
					}
				}
			}
			want := dump(t, c36)
			if ours := jsonDump(t, sel); !bytes.Equal(ours, want) {
				t.Errorf("ctl_mboxlist -d of our 3.6 conversion differs from our JSON:\n%s", firstDiff(ours, want))
			}
			if !bytes.Contains(want, []byte(`"user.front": {"name": "user.front", "mtime": "0", "uidvalidity": "0", "createdmodseq": "0", "foldermodseq": "0", "mbtype": "erl", "partition": "default", "server": "backend1"`)) {
				t.Errorf("remote entry without uniqueid not kept as erl:\n%s", want)
			}
		})
	}
}

func sortEntries(es []Entry) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].Name < es[j-1].Name; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// TestCyrusUpgradeLosses pins down what Cyrus 3.6.1's own upgrade
// (`ctl_cyrusdb -r` on a pre-3.6 mailboxes.db) does, the losses our
// conversion avoids: a 2.x remote entry (type 1) becomes NETNEWS (`nl`),
// and entries without a uniqueid whose mailbox is not on disk are dropped.
func TestCyrusUpgradeLosses(t *testing.T) {
	c := cyrustest.NewConfig(t)
	kvs := []KV{
		{Key: []byte("user.front"), Value: []byte("(uniqueid u-front) 1 backend1!default front\tlrswipkxtecda\t")},
		{Key: []byte("user.local"), Value: []byte("0 default local\tlrswipkxtecda\t")},
		{Key: []byte("user.spec"), Value: []byte("(uniqueid u-spec specialuse \\Sent) 0 default spec\tlrs\t")},
		{Key: []byte("user.z"), Value: []byte("%(A %(z lrs) I u-z P default T r M 5)")},
	}
	writeRecords(t, c, c.MailboxesDB(), kvs)
	var det Detector
	var ours []Entry
	for _, kv := range kvs {
		det.Add(kv.Key, kv.Value)
		rec, err := DecodeRecord(V24, kv.Key, kv.Value, nil)
		if err != nil {
			t.Fatal(err)
		}
		ours = append(ours, rec.Entry)
	}
	if det.Version() != V25 || det.Decided() {
		t.Errorf("Detector = %s decided=%v, want 2.5 undecided", det.Version(), det.Decided())
	}
	wantOurs := []Entry{
		{Name: "user.front", Type: FlagRemote, UniqueID: "u-front", Server: "backend1", Partition: "default", ACL: acl("front", "lrswipkxtecda")},
		{Name: "user.local", Partition: "default", ACL: acl("local", "lrswipkxtecda")},
		{Name: "user.spec", UniqueID: "u-spec", LegacySpecialUse: "\\Sent", Partition: "default", ACL: acl("spec", "lrs")},
		{Name: "user.z", Type: FlagRemote, UniqueID: "u-z", Partition: "default", Mtime: 5, ACL: acl("z", "lrs")},
	}
	if d := cmp.Diff(wantOurs, ours); d != "" {
		t.Errorf("decoded (-want +got):\n%s", d)
	}
	r := c.Run(t, "ctl_cyrusdb", "-r")
	if r.ExitCode != 0 {
		t.Fatalf("ctl_cyrusdb -r: %d %s", r.ExitCode, r.Stderr)
	}
	after := readRecords(t, c, c.MailboxesDB())
	got := map[string]Entry{}
	for _, kv := range after {
		rec, err := DecodeRecord(V36, kv.Key, kv.Value, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind == KindEntry {
			got[rec.Entry.Name] = rec.Entry
		}
	}
	if e, ok := got["user.front"]; !ok || e.Type != TypeNetnews|FlagLegacyDirs {
		t.Errorf("Cyrus's upgrade of a 2.x remote entry: %+v (present %v); the recorded behaviour is type nl", e, ok)
	}
	if _, ok := got["user.local"]; ok {
		t.Errorf("Cyrus's upgrade kept user.local without a uniqueid; the recorded behaviour is to drop it")
	}
	if e, ok := got["user.z"]; !ok || e.Type != FlagRemote|FlagLegacyDirs {
		t.Errorf("Cyrus's upgrade of a 2.5 remote entry: %+v", e)
	}
	// Ours: every entry kept, remote stays remote.
	for _, e := range ours {
		up, _ := Convert(V24, V36, &e)
		if e.Name == "user.front" && up.Type != FlagRemote|FlagLegacyDirs {
			t.Errorf("our upgrade of user.front: %q", up.Type)
		}
	}
	_ = os.Remove
}
