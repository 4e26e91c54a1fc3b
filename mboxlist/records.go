package mboxlist

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// Kind is what a mailboxes.db record is.
type Kind int

const (
	KindEntry      Kind = iota + 1 // a mailbox: 3.6 N record, or a pre-3.6 record keyed by internal name
	KindByID                       // 3.6 I record: the mailbox by uniqueid, with its History
	KindRACLMarker                 // reverse-ACL marker: 3.6 `AS\x1E`, pre-3.6 `$RACL`
	KindRACL                       // one reverse-ACL record
	KindRUNQMarker                 // 3.3/3.4 `$RUNQ` marker
	KindRUNQ                       // 3.3/3.4 `$RUNQ$<uniqueid>$<intname>`
	KindJMAP                       // Cyrus master `J<userid>\x1E<jmapid>`
)

var kindNames = map[Kind]string{KindEntry: "entry", KindByID: "by-id", KindRACLMarker: "racl-marker",
	KindRACL: "racl", KindRUNQMarker: "runq-marker", KindRUNQ: "runq", KindJMAP: "jmap"}

func (k Kind) String() string { return kindNames[k] }

// RACLKey is one reverse-ACL record: identifier ID holds `l` or `r` (per
// version) on mailbox Name (internal name), owned by a user (Shared false)
// or shared.
type RACLKey struct {
	Shared bool
	ID     string
	Name   string
}

// Record is one decoded mailboxes.db record.
type Record struct {
	Kind   Kind
	Entry  Entry       // KindEntry, KindByID, KindJMAP
	Format ValueFormat // KindEntry, KindByID: the value's shape
	RACL   RACLKey     // KindRACL
	// UniqueID and Name of a KindRUNQ record; Name is also the userid of a
	// KindJMAP record, UniqueID its jmapid.
	UniqueID, Name string
	Marker         string // value of a marker record ("" or "2"; $RUNQ "1")
}

// 3.6 key prefixes and separators.
const (
	KeyName  = 'N'
	KeyID    = 'I'
	KeyACL   = 'A'
	KeyJMAP  = 'J'
	ACLSep   = '\x1E'
	RACLMark = "AS\x1E"
)

func keyErr(key []byte, pos int, sentinel error, what string) *ValueError {
	return &ValueError{Key: string(key), InKey: true, Pos: pos, What: what, Err: sentinel}
}

// DecodeRecord decodes one record of a mailboxes.db written by Cyrus version
// v. Errors are *ValueError values naming the key and the byte position.
func DecodeRecord(v Version, key, value []byte, c *NameConfig) (Record, error) {
	if v.ByID() {
		return decode36(key, value, c)
	}
	return decodeLegacy(v, key, value, c)
}

func withKey(err error, key []byte) error {
	if ve, ok := err.(*ValueError); ok && ve.Key == "" {
		ve.Key = string(key)
	}
	return err
}

func decode36(key, value []byte, c *NameConfig) (Record, error) {
	if len(key) == 0 {
		return Record{}, keyErr(key, 0, ErrSyntax, "empty key")
	}
	switch key[0] {
	case KeyName:
		name := intNameFromDBKey(key[1:], c)
		e, f, err := DecodeValue(V36, name, value, c)
		if err != nil {
			return Record{}, withKey(err, key)
		}
		return Record{Kind: KindEntry, Entry: e, Format: f}, nil
	case KeyID:
		e, err := DecodeIValue(string(key[1:]), value, c)
		if err != nil {
			return Record{}, withKey(err, key)
		}
		return Record{Kind: KindByID, Entry: e, Format: FormatDlist}, nil
	case KeyACL:
		if string(key) == RACLMark {
			return Record{Kind: KindRACLMarker, Marker: string(value)}, nil
		}
		if len(key) < 3 || (key[1] != 'U' && key[1] != 'S') || key[2] != ACLSep {
			return Record{}, keyErr(key, 1, ErrUnknown, "A key is neither AU\\x1E nor AS\\x1E")
		}
		rest := key[3:]
		i := bytes.IndexByte(rest, ACLSep)
		if i < 0 {
			return Record{}, keyErr(key, 3, ErrSyntax, "reverse-ACL key without a second \\x1E")
		}
		if len(value) != 0 {
			return Record{}, &ValueError{Key: string(key), What: "reverse-ACL record with a non-empty value", Err: ErrSyntax}
		}
		return Record{Kind: KindRACL, RACL: RACLKey{Shared: key[1] == 'S', ID: string(rest[:i]),
			Name: IntNameFromDB(string(rest[i+1:]), c)}}, nil
	case KeyJMAP:
		rest := key[1:]
		i := bytes.IndexByte(rest, ACLSep)
		if i < 0 {
			return Record{}, keyErr(key, 1, ErrSyntax, "J key without \\x1E")
		}
		e, f, err := DecodeValue(V36, "", value, c)
		if err != nil {
			return Record{}, withKey(err, key)
		}
		return Record{Kind: KindJMAP, Entry: e, Format: f, Name: string(rest[:i]), UniqueID: string(rest[i+1:])}, nil
	}
	return Record{}, keyErr(key, 0, ErrUnknown, "key kind "+string(key[:1])+" is not N, I, A or J")
}

func decodeLegacy(v Version, key, value []byte, c *NameConfig) (Record, error) {
	k := string(key)
	switch {
	case k == "$RACL":
		return Record{Kind: KindRACLMarker, Marker: string(value)}, nil
	case k == "$RUNQ":
		return Record{Kind: KindRUNQMarker, Marker: string(value)}, nil
	case strings.HasPrefix(k, "$RACL$"):
		rest := k[6:]
		if len(rest) < 2 || (rest[0] != 'U' && rest[0] != 'S') || rest[1] != '$' {
			return Record{}, keyErr(key, 6, ErrUnknown, "$RACL key is neither $RACL$U$ nor $RACL$S$")
		}
		r := rest[2:]
		i := strings.IndexByte(r, '$')
		if i < 0 {
			return Record{}, keyErr(key, 8, ErrSyntax, "$RACL key without a '$' after the identifier")
		}
		return Record{Kind: KindRACL, RACL: RACLKey{Shared: rest[0] == 'S', ID: r[:i], Name: r[i+1:]}}, nil
	case strings.HasPrefix(k, "$RUNQ$"):
		r := k[6:]
		i := strings.IndexByte(r, '$')
		if i < 0 {
			return Record{}, keyErr(key, 6, ErrSyntax, "$RUNQ key without a '$' after the uniqueid")
		}
		return Record{Kind: KindRUNQ, UniqueID: r[:i], Name: r[i+1:]}, nil
	case k == "":
		return Record{}, keyErr(key, 0, ErrSyntax, "empty key")
	}
	e, f, err := DecodeValue(v, k, value, c)
	if err != nil {
		return Record{}, withKey(err, key)
	}
	return Record{Kind: KindEntry, Entry: e, Format: f}, nil
}

// KV is one record to write.
type KV struct {
	Key, Value []byte
}

// EncodeOptions shape the records EncodeRecords writes.
type EncodeOptions struct {
	Names *NameConfig
	// ReverseACLs adds the reverse-ACL records of the entry (the marker is
	// not added here: see RACLMarker).
	ReverseACLs bool
	// Admins are the identifiers that get no reverse-ACL record (imapd.conf
	// admins).
	Admins []string
	// ReverseUniqueIDs adds the 3.3/3.4 $RUNQ record of the entry.
	ReverseUniqueIDs bool
}

// EncodeRecords returns the records Cyrus version v stores for e, unsorted:
// for 3.6 and later the N record, the I record when e has a uniqueid (3.12
// quotes the names in it: Version.QuotesUS), and with
// ReverseACLs its A records; for older versions the record keyed by the
// internal name (2.x value for 2.4, dlist after), $RACL and $RUNQ records.
func EncodeRecords(v Version, e *Entry, o *EncodeOptions) ([]KV, error) {
	if o == nil {
		o = &EncodeOptions{}
	}
	var out []KV
	switch {
	case v.ByID():
		out = make([]KV, 0, 2)
		db := DBName(e.Name, o.Names)
		hint := valueSizeHint(e)
		w := kvWriter{b: make([]byte, 0, hint), quoteUS: v.QuotesUS()}
		if err := e.write36(&w, false, "", o.Names); err != nil {
			return nil, err
		}
		key := make([]byte, 0, 1+len(db))
		key = append(append(key, KeyName), db...)
		out = append(out, KV{Key: key, Value: w.b})
		if e.UniqueID != "" {
			wi := kvWriter{b: make([]byte, 0, hint+len(db)+16), quoteUS: v.QuotesUS()}
			if err := e.write36(&wi, true, db, o.Names); err != nil {
				return nil, err
			}
			ikey := make([]byte, 0, 1+len(e.UniqueID))
			ikey = append(append(ikey, KeyID), e.UniqueID...)
			out = append(out, KV{Key: ikey, Value: wi.b})
		}
	case v == V24:
		val, err := Value2x(e)
		if err != nil {
			return nil, err
		}
		out = append(out, KV{Key: []byte(e.Name), Value: val})
	default:
		val, err := ValueDlist(v, e)
		if err != nil {
			return nil, err
		}
		out = append(out, KV{Key: []byte(e.Name), Value: val})
	}
	if o.ReverseACLs {
		for _, k := range RACLKeys(v, e, o.Admins, o.Names) {
			out = append(out, KV{Key: k, Value: []byte{}})
		}
	}
	if o.ReverseUniqueIDs && v == V34 && e.UniqueID != "" && !e.Type.Has(FlagDeleted) && !e.Type.Has(FlagIntermediate) {
		out = append(out, KV{Key: []byte("$RUNQ$" + e.UniqueID + "$" + e.Name), Value: []byte{}})
	}
	return out, nil
}

// RACLMarker is the reverse-ACL marker record of version v (nil before 3.0).
func RACLMarker(v Version) *KV {
	switch {
	case v >= V36:
		return &KV{Key: []byte(RACLMark), Value: []byte{}}
	case v == V34:
		return &KV{Key: []byte("$RACL"), Value: []byte("2")}
	case v >= V30:
		return &KV{Key: []byte("$RACL"), Value: []byte{}}
	}
	return nil
}

// RUNQMarker is the 3.3/3.4 reverse-uniqueid marker (nil for other versions).
func RUNQMarker(v Version) *KV {
	if v == V34 {
		return &KV{Key: []byte("$RUNQ"), Value: []byte("1")}
	}
	return nil
}

// RACLKeys are the reverse-ACL keys Cyrus version v builds for e when it
// rebuilds them (ctl_cyrusdb -r with reverseacls on): none for tombstones
// (`d`) and intermediates (`i`); for every ACL item whose rights contain `l`
// (3.0), anything (3.2), `r` (3.4), `l` or `r` (3.6), except the mailbox's
// owner and the admins. The ACL is read the way Cyrus reads it, by splitting
// its tab form and dropping empty fields (so an item with empty rights
// shifts the pairs after it, as in Cyrus). Keys come out sorted.
func RACLKeys(v Version, e *Entry, admins []string, c *NameConfig) [][]byte {
	if v < V30 || e.ACL == nil || e.Type.Has(FlagDeleted) || e.Type.Has(FlagIntermediate) {
		return nil
	}
	owner := Owner(e.Name, c)
	fields := splitNonEmpty(e.ACL.TabString(), '\t')
	var keys [][]byte
	seen := map[string]bool{}
	for i := 0; i+1 < len(fields); i += 2 {
		id, rights := fields[i], fields[i+1]
		var ok bool
		switch {
		case v == V30:
			ok = strings.IndexByte(rights, 'l') >= 0
		case v == V32:
			ok = true
		case v == V34:
			ok = strings.IndexByte(rights, 'r') >= 0
		default:
			ok = strings.ContainsAny(rights, "lr")
		}
		if !ok || (owner != "" && id == owner) {
			continue
		}
		admin := false
		for _, a := range admins {
			if a == id {
				admin = true
			}
		}
		if admin {
			continue
		}
		var k []byte
		if v.ByID() {
			k = []byte{KeyACL, 'S', ACLSep}
			if owner != "" {
				k[1] = 'U'
			}
			k = append(k, id...)
			k = append(k, ACLSep)
			k = append(k, DBName(e.Name, c)...)
		} else {
			t := "S"
			if owner != "" {
				t = "U"
			}
			k = []byte("$RACL$" + t + "$" + id + "$" + e.Name)
		}
		if !seen[string(k)] {
			seen[string(k)] = true
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	return keys
}

// PickByID chooses, among I-record values that share one key (entries with
// the same uniqueid), the one Cyrus keeps. Cyrus stores one I record per
// uniqueid, written by the last write of any entry with it; a RENAME or a
// delayed DELETE writes the tombstone under the old name first and the new
// name last, so the I record names the live mailbox and carries the old
// name in its history. From the entries alone the rule is: the entry with a
// name history (only the I record's own entry has one), else the one that
// is not a tombstone (`d`), else the newest (M), else the last in key order.
// Two candidates that still tie, and are not tombstones, are two live
// mailboxes with one uniqueid: an error naming both. key is the I key, for
// the error.
func PickByID(key []byte, values [][]byte, c *NameConfig) (int, error) {
	if len(values) == 1 {
		return 0, nil
	}
	type cand struct {
		hist, live bool
		mtime      int64
		db         string
	}
	cands := make([]cand, len(values))
	uid := string(key)
	if len(key) > 0 && key[0] == KeyID {
		uid = string(key[1:])
	}
	for i, v := range values {
		e, err := DecodeIValue(uid, v, c)
		if err != nil {
			return 0, withKey(err, key)
		}
		cands[i] = cand{hist: len(e.History) > 0, live: !e.Type.Has(FlagDeleted), mtime: e.Mtime, db: DBName(e.Name, c)}
	}
	better := func(a, b cand) int { // >0: a ranks above b
		switch {
		case a.hist != b.hist:
			return boolRank(a.hist)
		case a.live != b.live:
			return boolRank(a.live)
		case a.live:
			return 0 // two live mailboxes: no rule decides
		case a.mtime != b.mtime:
			if a.mtime > b.mtime {
				return 1
			}
			return -1
		}
		return strings.Compare(a.db, b.db)
	}
	best := 0
	for i := 1; i < len(cands); i++ {
		if better(cands[i], cands[best]) > 0 {
			best = i
		}
	}
	for i := range cands {
		if i != best && better(cands[i], cands[best]) == 0 {
			return 0, &ValueError{Key: string(key), InKey: true, Err: ErrSyntax,
				What: fmt.Sprintf("two live mailboxes share the uniqueid %q: %q and %q", uid,
					IntNameFromDB(cands[best].db, c), IntNameFromDB(cands[i].db, c))}
		}
	}
	return best, nil
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return -1
}
