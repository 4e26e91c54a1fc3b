package mboxlist

import "testing"

func TestACLEffective(t *testing.T) {
	a := ACL{{"anyone", "lr"}, {"fred", "lrswi"}, {"-fred", "w"}, {"group:staff", "lrsk"}, {"-anyone", "r"}, {"anonymous", "l"}}
	cases := []struct {
		who  Identity
		want Rights
	}{
		{Identity{User: "fred"}, "lsi"},
		{Identity{User: "bob"}, "l"},
		{Identity{User: "bob", Groups: []string{"group:staff"}}, "lsk"},
		{Identity{Anonymous: true}, "l"},
	}
	for _, tc := range cases {
		if got := RightsFromMask(a.Effective(tc.who)); got != tc.want {
			t.Errorf("Effective(%+v) = %q, want %q", tc.who, got, tc.want)
		}
	}
	if !Rights("lrc").Has('k') || !Rights("lrc").Has('x') || Rights("lr").Has('w') || !Rights("d").Has('e') {
		t.Error("Has with legacy macros")
	}
	tab, err := ParseACLTab("fred\tlrswipkxtecda\tanyone\tlr\t")
	if err != nil || len(tab) != 2 || tab.TabString() != "fred\tlrswipkxtecda\tanyone\tlr\t" {
		t.Errorf("ParseACLTab = %v, %v", tab, err)
	}
	if _, err := ParseACLTab("fred\tlr\tdangling"); err == nil {
		t.Error("dangling identifier accepted")
	}
}
