package registry

import "testing"

// TestOwnRow: only a user's rows on that user's own hierarchy are "own";
// rows that another user's Visible reads (anyone, anonymous, groups) or
// that lie outside the hierarchy (a sibling user whose name starts alike,
// another domain) are not.
func TestOwnRow(t *testing.T) {
	row := func(domain, sign, id, name string) string {
		return aclPrefix(domain, sign, id) + DBName(name)
	}
	tests := []struct {
		key  string
		want bool
	}{
		{row("", "+", "fred", "user.fred"), true},
		{row("", "+", "fred", "user.fred.Sent"), true},
		{row("", "-", "fred", "user.fred.Sent"), true},
		{row("", "+", "john.doe", "user.john^doe.Sent"), true},
		{row("example.com", "+", "jane@example.com", "example.com!user.jane.a^b"), true},
		{row("", "+", "fred", "user.freddy"), false},
		{row("", "+", "fred", "user.bob"), false},
		{row("", "+", "fred", "shared.fred"), false},
		{row("example.com", "+", "fred", "example.com!user.fred"), false},
		{row("", "+", "fred@example.com", "user.fred"), false},
		{row("", "+", "anyone", "user.anyone"), false},
		{row("", "+", "anonymous", "user.anonymous"), false},
		{row("", "+", "group:staff", "user.group:staff"), false},
		{idxListable + DBName("user.fred"), false},
		{"a", false},
		{"a\x00", false},
		{"a\x00+fred", false},
		{"a\x00*fred\x00user\x1Ffred", false},
	}
	for _, tc := range tests {
		if got := OwnRow(tc.key); got != tc.want {
			t.Errorf("OwnRow(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}
