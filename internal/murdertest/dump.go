package murdertest

import (
	"encoding/json"
	"fmt"
	"testing"
)

// DumpEntry is one mailbox as `ctl_mboxlist -d` (Cyrus 3.6 JSON) prints it.
// Numbers are strings there; they stay strings here.
type DumpEntry struct {
	Name          string            `json:"name"`
	Mtime         string            `json:"mtime"`
	UniqueID      string            `json:"uniqueid,omitempty"`
	UIDValidity   string            `json:"uidvalidity"`
	CreatedModseq string            `json:"createdmodseq"`
	FolderModseq  string            `json:"foldermodseq"`
	MBType        string            `json:"mbtype"`
	Partition     string            `json:"partition"`
	Server        string            `json:"server,omitempty"`
	ACL           map[string]string `json:"acl"`
	// HasPartition and HasServer say whether the member was printed at all:
	// a Cyrus 3.6+ master prints `"partition": ""` for a RENAME target a
	// backend pushed as "host!", which is not the same as no partition.
	HasPartition, HasServer bool `json:"-"`
}

// UnmarshalJSON decodes one entry, noting which optional members it has.
func (e *DumpEntry) UnmarshalJSON(b []byte) error {
	type plain DumpEntry
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return err
	}
	_, p.HasPartition = members["partition"]
	_, p.HasServer = members["server"]
	*e = DumpEntry(p)
	return nil
}

// Location is server!partition as MUPDATE carries it (Cyrus' re-join rule:
// "server!partition", "server" without partition, "partition" without server).
func (e DumpEntry) Location() string {
	switch {
	case e.HasServer && e.HasPartition:
		// "host!" for an empty partition, as the master sends it back
		return e.Server + "!" + e.Partition
	case e.HasServer:
		return e.Server
	default:
		return e.Partition
	}
}

// ParseDump decodes `ctl_mboxlist -d` output.
func ParseDump(b []byte) (map[string]DumpEntry, error) {
	m := map[string]DumpEntry{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("ctl_mboxlist -d output: %w", err)
	}
	return m, nil
}

// Dump returns the instance's mailboxes.db as `ctl_mboxlist -d` prints it.
func (in *Instance) Dump(t testing.TB) map[string]DumpEntry {
	t.Helper()
	out := in.CtlMboxlist(t, "-d")
	m, err := ParseDump(out)
	if err != nil {
		t.Fatalf("%s: %v\n%s", in.Name, err, out)
	}
	return m
}
