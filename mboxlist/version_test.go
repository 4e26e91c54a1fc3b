package mboxlist

import (
	"errors"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for s, want := range map[string]Version{"2.4": V24, "2.3": V24, "2.5": V25, "3.0": V30, "3.2": V32, "3.4": V34, "3.5": V36, "3.6": V36,
		"3.8": V310, "3.10": V310, "3.11": V312, "3.12": V312} {
		got, err := ParseVersion(s)
		if err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %v, %v", s, got, err)
		}
	}
	for _, v := range Versions {
		if got, _ := ParseVersion(v.String()); got != v {
			t.Errorf("round trip %v", v)
		}
	}
	if _, err := ParseVersion("4.0"); !errors.Is(err, ErrUnknown) {
		t.Errorf("4.0: %v", err)
	}
}
