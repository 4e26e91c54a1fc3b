package shadow

import (
	"context"
	"errors"
	"fmt"
)

// VisibleFunc answers "which mailboxes may user see": the registry's
// reverse-ACL Visible(user, groups) answer, or VisibleTo over a dump.
type VisibleFunc func(ctx context.Context, user string) ([]VisibleMailbox, error)

// RegistrySource computes, without any IMAP server, what Cyrus's LIST would
// show each user (RegistryList), from the visible mailboxes and a
// namespace.
type RegistrySource struct {
	Name    string // for reports, e.g. the registry URL
	Visible VisibleFunc
	// Namespace, when set, is used for every user; otherwise the
	// namespace the old side announced to the same user is used (ListIn).
	Namespace *Namespace
}

// NamespacedSource is a Source that needs the namespace the other side
// announced to the user; the Runner calls ListIn with the old side's.
type NamespacedSource interface {
	Source
	ListIn(ctx context.Context, u User, ns *Namespace) (*Listing, error)
}

var errNoNamespace = errors.New("shadow: no namespace known for the registry side (the old side announced none and none was configured)")

func (s *RegistrySource) String() string { return s.Name }

// List uses the configured Namespace.
func (s *RegistrySource) List(ctx context.Context, u User) (*Listing, error) {
	return s.ListIn(ctx, u, nil)
}

// ListIn computes the listing under ns (or the configured Namespace, which
// wins).
func (s *RegistrySource) ListIn(ctx context.Context, u User, ns *Namespace) (*Listing, error) {
	if s.Namespace != nil {
		ns = s.Namespace
	}
	if ns == nil {
		return nil, errNoNamespace
	}
	vis, err := s.Visible(ctx, u.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: visible %s: %w", s.Name, u.Name, err)
	}
	return RegistryList(u.Name, *ns, vis), nil
}

// DumpVisible serves VisibleFunc from `ctl_mboxlist -d` entries by scanning
// (VisibleTo); groups maps a user to its groups.
func DumpVisible(entries []DumpEntry, groups map[string][]string) VisibleFunc {
	return func(ctx context.Context, user string) ([]VisibleMailbox, error) {
		return VisibleTo(entries, user, groups[user]), nil
	}
}

// StandardNamespace returns the namespace Cyrus announces for the given
// imapd.conf settings (altnamespace, unixhierarchysep), with Cyrus's default
// userprefix "Other Users" and sharedprefix "Shared Folders".
func StandardNamespace(altNamespace, unixHierarchySep bool) Namespace {
	d := "."
	if unixHierarchySep {
		d = "/"
	}
	if altNamespace {
		return Namespace{Personal: "", Other: "Other Users" + d, Shared: "Shared Folders" + d, Delim: d, HasOther: true, HasShared: true}
	}
	return Namespace{Personal: "INBOX" + d, Other: "user" + d, Shared: "", Delim: d, HasOther: true, HasShared: true}
}
