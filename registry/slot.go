package registry

import (
	"fmt"
	"strings"
	"time"
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

// ValidateSlot checks a slot before it is stored.
func ValidateSlot(s Slot) error {
	if s.Name == "" || strings.ContainsAny(s.Name, "\x00/") {
		return fmt.Errorf("bad slot name %q: %w", s.Name, ErrInvalid)
	}
	if !s.State.Valid() {
		return fmt.Errorf("bad slot state %q: %w", s.State, ErrInvalid)
	}
	for _, l := range s.Locations {
		if l.Server == "" {
			return fmt.Errorf("slot location %q has no server: %w", l.String(), ErrInvalid)
		}
	}
	return nil
}
