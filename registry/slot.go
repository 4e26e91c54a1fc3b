package registry

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SlotState is where a slot is in its migration.
type SlotState string

// The states of a slot, in order. A slot moves forward one state at a time;
// rollback may go back to any earlier state except from retired.
const (
	SlotLegacy      SlotState = "legacy"       // the old master is authoritative, nothing mirrored
	SlotMirrored    SlotState = "mirrored"     // the bridge follows the old master into the registry
	SlotShadowClean SlotState = "shadow-clean" // shadow comparison found no difference
	SlotCutover     SlotState = "cutover"      // the bridge is authoritative, writes through to the old master
	SlotRetired     SlotState = "retired"      // the old master no longer serves this slot
)

var slotOrder = []SlotState{SlotLegacy, SlotMirrored, SlotShadowClean, SlotCutover, SlotRetired}

func (s SlotState) index() int {
	for i, v := range slotOrder {
		if v == s {
			return i
		}
	}
	return -1
}

// Valid reports whether s is one of the five states.
func (s SlotState) Valid() bool { return s.index() >= 0 }

// ParseSlotState checks a state name.
func ParseSlotState(s string) (SlotState, error) {
	st := SlotState(s)
	if !st.Valid() {
		return "", fmt.Errorf("registry: unknown slot state %q (want legacy, mirrored, shadow-clean, cutover or retired): %w", s, ErrInvalid)
	}
	return st, nil
}

// CanTransition reports whether a slot may go from one state to another: one
// step forward, or back (rollback) to any earlier state unless retired.
func CanTransition(from, to SlotState) bool {
	f, t := from.index(), to.index()
	if f < 0 || t < 0 || f == t {
		return false
	}
	if t == f+1 {
		return true
	}
	return t < f && from != SlotRetired
}

// SlotTransition is one entry of a slot's audit history.
type SlotTransition struct {
	From SlotState
	To   SlotState
	Time time.Time
	By   string // who asked (operator, bridge name)
	Note string
}

// Slot is a named set of locations (`server` for a whole server, or
// `server!partition`) with a state and the audit history of its transitions.
type Slot struct {
	Name      string
	Locations []Location // Partition empty: the whole server
	State     SlotState
	History   []SlotTransition // oldest first
	Revision  int64            // registry-assigned; compare-and-set on UpdateSlot
}

// Transition moves s to state to, appending to its history; the change is
// stored with Store.UpdateSlot.
func (s *Slot) Transition(to SlotState, by, note string, now time.Time) error {
	if !CanTransition(s.State, to) {
		return fmt.Errorf("registry: slot %q: cannot go from %s to %s: %w", s.Name, s.State, to, ErrInvalid)
	}
	s.History = append(s.History, SlotTransition{From: s.State, To: to, Time: now.UTC(), By: by, Note: note})
	s.State = to
	return nil
}

// Contains reports whether the slot covers loc: a slot location without a
// partition covers every partition of its server.
func (s *Slot) Contains(loc Location) bool {
	for _, l := range s.Locations {
		if l.Server == loc.Server && (l.Partition == "" || l.Partition == loc.Partition) {
			return true
		}
	}
	return false
}

// SlotFor returns the slot covering loc, preferring a slot naming the exact
// partition over one naming the whole server.
func SlotFor(slots []Slot, loc Location) (Slot, bool) {
	var whole *Slot
	for i := range slots {
		for _, l := range slots[i].Locations {
			if l.Server != loc.Server {
				continue
			}
			if l.Partition == loc.Partition && l.Partition != "" {
				return slots[i], true
			}
			if l.Partition == "" && whole == nil {
				whole = &slots[i]
			}
		}
	}
	if whole != nil {
		return *whole, true
	}
	return Slot{}, false
}

// Limits of a slot's text fields (bytes).
const (
	MaxSlotName     = 255
	MaxSlotServer   = 255 // a DNS host name, optionally with :port
	MaxSlotPart     = 64  // Cyrus's MAX_PARTITION_LEN
	MaxSlotHistText = 1024
)

// ValidateSlot checks a slot before it is stored: a name of 1..255 bytes
// of valid UTF-8 without control characters, '/' or NUL; a known state;
// locations whose server is a host name (letters, digits, '.', '-', '_',
// an optional ":port", or a bracketed IPv6 address) of at most 255 bytes
// and whose partition, if any, is at most 64 bytes of printable ASCII
// without '!' or space; and history entries with known states and short
// valid-UTF-8 "by" and "note" texts.
func ValidateSlot(s Slot) error {
	if err := validSlotText("slot name", s.Name, MaxSlotName); err != nil || s.Name == "" || strings.ContainsAny(s.Name, "/") {
		return fmt.Errorf("bad slot name %q (want 1..%d bytes of UTF-8 without '/' or control characters): %w", clipText(s.Name), MaxSlotName, ErrInvalid)
	}
	if !s.State.Valid() {
		return fmt.Errorf("bad slot state %q: %w", clipText(string(s.State)), ErrInvalid)
	}
	for _, l := range s.Locations {
		if err := ValidateSlotLocation(l); err != nil {
			return err
		}
	}
	for i, h := range s.History {
		if h.From != "" && !h.From.Valid() || !h.To.Valid() {
			return fmt.Errorf("slot history entry %d: bad state %q → %q: %w", i, clipText(string(h.From)), clipText(string(h.To)), ErrInvalid)
		}
		if err := validSlotText("slot history \"by\"", h.By, MaxSlotHistText); err != nil {
			return err
		}
		if err := validSlotText("slot history note", h.Note, MaxSlotHistText); err != nil {
			return err
		}
	}
	return nil
}

// ValidateSlotLocation checks one location of a slot (see ValidateSlot).
func ValidateSlotLocation(l Location) error {
	bad := func(why string) error {
		return fmt.Errorf("bad slot location %q: %s: %w", clipText(l.String()), why, ErrInvalid)
	}
	if l.Server == "" {
		return bad("no server")
	}
	if len(l.Server) > MaxSlotServer {
		return bad(fmt.Sprintf("server name of %d bytes (at most %d)", len(l.Server), MaxSlotServer))
	}
	host := l.Server
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return bad("unclosed '[' in the server")
		}
		for _, c := range host[1:end] {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
				return bad("the server's bracketed address is not IPv6")
			}
		}
		host = "x" + host[end+1:]
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		port := host[i+1:]
		if port == "" || len(port) > 5 {
			return bad("bad port in the server")
		}
		for _, c := range port {
			if c < '0' || c > '9' {
				return bad("bad port in the server")
			}
		}
		host = host[:i]
	}
	if host == "" {
		return bad("no host name in the server")
	}
	for _, c := range host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return bad(fmt.Sprintf("character %q in the server (a host name has letters, digits, '.', '-', '_')", c))
		}
	}
	if len(l.Partition) > MaxSlotPart {
		return bad(fmt.Sprintf("partition of %d bytes (at most %d)", len(l.Partition), MaxSlotPart))
	}
	for _, c := range []byte(l.Partition) {
		if c <= ' ' || c >= 0x7F || c == '!' {
			return bad(fmt.Sprintf("byte 0x%02X in the partition (printable ASCII without '!' or space)", c))
		}
	}
	return nil
}

func validSlotText(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%s of %d bytes is longer than %d: %w", what, len(s), max, ErrInvalid)
	}
	if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
		return fmt.Errorf("%s %q is not valid UTF-8 (or holds U+FFFD, the mark of a failed conversion): %w", what, clipText(s), ErrInvalid)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s %q holds a control character: %w", what, clipText(s), ErrInvalid)
		}
	}
	return nil
}

func clipText(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
