package mboxlist

import (
	"fmt"
	"strings"
)

// typeLetters36 maps a 3.6 mailbox type to its T letter.
var typeLetters36 = map[MBType]byte{
	TypeEmail: 'e', TypeNetnews: 'n', TypeCollection: 'b', TypeCalendar: 'c',
	TypeAddressbook: 'a', TypeSubmission: 's', TypePushSub: 'p', TypeSieve: 'f',
	TypeJMAPNotify: 'j',
}

// flagLetters36 is the order in which Cyrus 3.6 prints flag letters.
var flagLetters36 = []struct {
	f MBType
	c byte
}{{FlagDeleted, 'd'}, {FlagMoving, 'm'}, {FlagRemote, 'r'}, {FlagReserve, 'z'}, {FlagIntermediate, 'i'}, {FlagLegacyDirs, 'l'}}

const knownFlags = FlagRemote | FlagReserve | FlagMoving | FlagDeleted | FlagIntermediate | FlagLegacyDirs

// String is the 3.6 T string (`e`, `er`, `cd`, ...), as
// mboxlist_mbtype_to_string of 3.6 writes it. Kinds without a letter print
// nothing for the kind.
func (t MBType) String() string {
	var a [24]byte
	return string(t.appendString(a[:0]))
}

// appendString appends String's letters to b.
func (t MBType) appendString(b []byte) []byte {
	if c, ok := typeLetters36[t.Kind()]; ok {
		b = append(b, c)
	}
	for _, fl := range flagLetters36 {
		if t&fl.f != 0 {
			b = append(b, fl.c)
		}
	}
	return b
}

// Format36 is String with the checks Cyrus makes: the kind must have a letter
// (j only from Cyrus master) and no unknown flag bits may be set.
func (t MBType) Format36() (string, error) {
	if _, ok := typeLetters36[t.Kind()]; !ok {
		return "", fmt.Errorf("%w: mailbox type %#x has no 3.6 letter", ErrUnrepresentable, uint32(t.Kind()))
	}
	if extra := t &^ (TypeMask | knownFlags); extra != 0 {
		return "", fmt.Errorf("%w: mailbox type flags %#x", ErrUnrepresentable, uint32(extra))
	}
	return t.String(), nil
}

// ParseType36 reads a 3.5+ T string. Like Cyrus, a first character that is
// not a type letter is read as a flag of an email mailbox (`r` = email +
// REMOTE), and `f` anywhere ORs in the sieve type. Unlike Cyrus (which
// asserts), an unknown letter is an error naming its position.
func ParseType36(s string) (MBType, error) {
	var t MBType
	i := 0
	if len(s) > 0 {
		switch s[0] {
		case 'a':
			t, i = TypeAddressbook, 1
		case 'b':
			t, i = TypeCollection, 1
		case 'c':
			t, i = TypeCalendar, 1
		case 'e':
			t, i = TypeEmail, 1
		case 'n':
			t, i = TypeNetnews, 1
		case 'p':
			t, i = TypePushSub, 1
		case 's':
			t, i = TypeSubmission, 1
		case 'j':
			t, i = TypeJMAPNotify, 1
		}
	}
	for ; i < len(s); i++ {
		switch s[i] {
		case 'd':
			t |= FlagDeleted
		case 'f':
			t |= TypeSieve
		case 'i':
			t |= FlagIntermediate
		case 'l':
			t |= FlagLegacyDirs
		case 'm':
			t |= FlagMoving
		case 'r':
			t |= FlagRemote
		case 'z':
			t |= FlagReserve
		default:
			return 0, &typeError{pos: i, what: fmt.Sprintf("unknown mailbox type letter %q in %q", s[i], s)}
		}
	}
	if _, ok := typeLetters36[t.Kind()]; !ok {
		// Cyrus ORs the sieve bits into the type ("cf" is 0xD): a kind
		// no version defines. Refuse it rather than invent a meaning.
		return 0, &typeError{pos: 0, what: fmt.Sprintf("mailbox type letters %q combine into undefined kind %#x", s, uint32(t.Kind()))}
	}
	return t, nil
}

type typeError struct {
	pos  int
	what string
}

func (e *typeError) Error() string { return e.what }

// Legacy (2.x–3.4) numbering of mailbox types: one bit each.
const (
	legacyRemote       = 1 << 0
	legacyReserve      = 1 << 1
	legacyNetnews      = 1 << 2
	legacyMoving       = 1 << 3
	legacyDeleted      = 1 << 4
	legacyCalendar     = 1 << 5
	legacyAddressbook  = 1 << 6
	legacyCollection   = 1 << 7
	legacyIntermediate = 1 << 8
	legacySubmission   = 1 << 9
	legacyPushSub      = 1 << 10
)

// legacyBits lists the legacy bits with their 3.6 meaning and the first
// version that defines them, in the order the dlist T letters are printed.
var legacyBits = []struct {
	bit    uint32
	t      MBType
	letter byte
	since  Version
}{
	{legacyDeleted, FlagDeleted, 'd', V24},
	{legacyMoving, FlagMoving, 'm', V24},
	{legacyNetnews, TypeNetnews, 'n', V24},
	{legacyRemote, FlagRemote, 'r', V24},
	{legacyReserve, FlagReserve, 'z', V24},
	{legacyCalendar, TypeCalendar, 'c', V25},
	{legacyCollection, TypeCollection, 'b', V30},
	{legacyAddressbook, TypeAddressbook, 'a', V25},
	{legacyIntermediate, FlagIntermediate, 'i', V32},
	{legacySubmission, TypeSubmission, 's', V32},
	{legacyPushSub, TypePushSub, 'p', V32},
}

// FromLegacyNumber converts a 2.x–3.4 numeric mbtype (REMOTE=1, RESERVE=2,
// NETNEWS=4, MOVING=8, DELETED=16, CALENDAR=32, ADDRESSBOOK=64,
// COLLECTION=128, INTERMEDIATE=256, SUBMISSION=512, PUSHSUBSCRIPTION=1024)
// to the 3.6 model. Unknown bits, and two mailbox kinds at once, are errors.
// (Cyrus's own upgrade takes the number as-is in the new numbering, so a
// remote entry, 1, becomes NETNEWS; this function does not.)
func FromLegacyNumber(n uint32) (MBType, error) {
	var t MBType
	kinds := 0
	rest := n
	for _, lb := range legacyBits {
		if n&lb.bit == 0 {
			continue
		}
		rest &^= lb.bit
		if lb.t&TypeMask != 0 {
			kinds++
		}
		t |= lb.t
	}
	if rest != 0 {
		return 0, fmt.Errorf("%w: legacy mailbox type bits %#x", ErrUnknown, rest)
	}
	if kinds > 1 {
		return 0, fmt.Errorf("%w: legacy mailbox type %d names two mailbox kinds", ErrUnknown, n)
	}
	return t, nil
}

// LegacyNumber is the 2.x–3.4 numeric mbtype of t as version v writes it.
// LEGACY_DIRS has no legacy bit (it is what every pre-3.6 mailbox is) and is
// dropped silently; kinds and flags v does not know are an error.
func (t MBType) LegacyNumber(v Version) (uint32, error) {
	var n uint32
	rest := t &^ FlagLegacyDirs
	for _, lb := range legacyBits {
		match := false
		if lb.t&TypeMask != 0 {
			match = t.Kind() == lb.t
		} else {
			match = t&lb.t != 0
		}
		if !match {
			continue
		}
		if v < lb.since {
			return 0, fmt.Errorf("%w: mailbox type %q in Cyrus %s", ErrUnrepresentable, t.String(), v)
		}
		n |= lb.bit
		if lb.t&TypeMask != 0 {
			rest &^= TypeMask
		} else {
			rest &^= lb.t
		}
	}
	if rest.Kind() == TypeEmail {
		rest &^= TypeMask
	}
	if rest != 0 {
		return 0, fmt.Errorf("%w: mailbox type %q in Cyrus %s", ErrUnrepresentable, t.String(), v)
	}
	return n, nil
}

// LegacyLetters is the 2.5–3.4 dlist T string of t ("" for a plain email
// mailbox, which has no T field).
func (t MBType) LegacyLetters(v Version) (string, error) {
	n, err := t.LegacyNumber(v)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, lb := range legacyBits {
		if n&lb.bit != 0 {
			b.WriteByte(lb.letter)
		}
	}
	return b.String(), nil
}

// ParseLegacyLetters reads a 2.5–3.4 dlist T string (letters `d m n r z c b
// a i s p` in any order) into the 3.6 model.
func ParseLegacyLetters(s string) (MBType, error) {
	var n uint32
	for i := 0; i < len(s); i++ {
		found := false
		for _, lb := range legacyBits {
			if s[i] == lb.letter {
				n |= lb.bit
				found = true
				break
			}
		}
		if !found {
			return 0, &typeError{pos: i, what: fmt.Sprintf("unknown mailbox type letter %q in %q", s[i], s)}
		}
	}
	t, err := FromLegacyNumber(n)
	if err != nil {
		return 0, &typeError{pos: 0, what: err.Error()}
	}
	return t, nil
}
