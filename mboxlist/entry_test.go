package mboxlist

import "testing"

func TestListableBy(t *testing.T) {
	cases := []struct {
		e    Entry
		who  Identity
		want bool
	}{
		{Entry{Name: "user.fred.Sent", ACL: acl("fred", "")}, Identity{User: "fred"}, true}, // own hierarchy (the registry's contract)
		// a negative l hides an own mailbox too (Cyrus 3.6.1)
		{Entry{Name: "user.fred.Sent", ACL: acl("fred", full, "-anyone", "lr")}, Identity{User: "fred"}, false},
		{Entry{Name: "user.fred.Sent", ACL: acl("fred", full, "-fred", "l")}, Identity{User: "fred"}, false},
		{Entry{Name: "user.fred.Sent", ACL: acl("fred", full, "-bob", "l")}, Identity{User: "fred"}, true},
		{Entry{Name: "user.fred.Sent", ACL: acl("fred", full, "-anyone", "r")}, Identity{User: "fred"}, true},
		{Entry{Name: "user.fred.Proj", Type: FlagIntermediate, ACL: acl("fred", "lrs")}, Identity{User: "fred"}, false},
		{Entry{Name: "user.fred.Sent", ACL: acl("anyone", "lr")}, Identity{User: "bob"}, true},
		{Entry{Name: "user.fred.Sent", ACL: acl("anyone", "lr", "-bob", "l")}, Identity{User: "bob"}, false},
		{Entry{Name: "user.fred.Sent", ACL: acl("group:staff", "l")}, Identity{User: "bob", Groups: []string{"group:staff"}}, true},
		{Entry{Name: "user.fred.#calendars", Type: TypeCalendar, ACL: acl("anyone", "lr")}, Identity{User: "fred"}, false},
		{Entry{Name: "user.fred.Gone", Type: FlagDeleted, ACL: acl("anyone", "lr")}, Identity{User: "fred"}, false},
		{Entry{Name: "user.fred.New", Type: FlagReserve, ACL: acl("anyone", "lr")}, Identity{User: "fred"}, false},
		{Entry{Name: "DELETED.user.fred.Old.5F000000", ACL: acl("anyone", "lr")}, Identity{User: "fred"}, false},
		{Entry{Name: "example.com!user.jane", ACL: acl("anyone", "lr")}, Identity{User: "bob"}, false},
		{Entry{Name: "example.com!user.jane", ACL: acl("jane@example.com", full)}, Identity{User: "jane@example.com"}, true},
		{Entry{Name: "example.com!shared.x", ACL: acl("anyone", "lr")}, Identity{User: "bob@example.com"}, true},
		{Entry{Name: "user.rem", Type: FlagRemote, Server: "be", ACL: acl("anyone", "l")}, Identity{User: "x"}, true},
	}
	for _, tc := range cases {
		if got := tc.e.ListableBy(tc.who, nil); got != tc.want {
			t.Errorf("%q ListableBy(%+v) = %v, want %v", tc.e.Name, tc.who, got, tc.want)
		}
	}
}
