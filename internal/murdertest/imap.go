package murdertest

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// IMAP is a logged-in IMAP session (go-imap v2 client) on a backend or
// frontend. Every method returns the server's error (a NO is an error).
type IMAP struct {
	User string
	c    *imapclient.Client
}

// IMAPAs logs in to the instance as user with the password from Users (or
// the default users). The session is closed by t.Cleanup.
func (in *Instance) IMAPAs(t testing.TB, user string) *IMAP {
	t.Helper()
	pw, ok := in.Users[user]
	if !ok {
		t.Fatalf("murdertest: no user %q on %s", user, in.Name)
	}
	s, err := DialIMAP(in.IMAPAddr, user, pw)
	if err != nil {
		t.Fatalf("%s: %v\nsyslog:\n%s", in.Name, err, in.Log())
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// DialIMAP connects without TLS and logs in with LOGIN.
func DialIMAP(addr, user, password string) (*IMAP, error) {
	c, err := imapclient.DialInsecure(addr, &imapclient.Options{Dialer: nil})
	if err != nil {
		return nil, fmt.Errorf("imap dial %s: %w", addr, err)
	}
	if err := c.Login(user, password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("imap login %s as %s: %w", addr, user, err)
	}
	return &IMAP{User: user, c: c}, nil
}

// Close logs out and closes the connection.
func (s *IMAP) Close() error {
	done := make(chan struct{})
	go func() { s.c.Logout().Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return s.c.Close()
}

// Create sends CREATE name.
func (s *IMAP) Create(name string) error { return wrap("CREATE", name, s.c.Create(name, nil).Wait()) }

// Rename sends RENAME from to.
func (s *IMAP) Rename(from, to string) error {
	return wrap("RENAME", from+" "+to, s.c.Rename(from, to, nil).Wait())
}

// Delete sends DELETE name.
func (s *IMAP) Delete(name string) error { return wrap("DELETE", name, s.c.Delete(name).Wait()) }

// SetACL sends SETACL name id rights (rights replace the old ones; "" removes
// nothing but sets an empty right set). A negative identifier starts with "-".
func (s *IMAP) SetACL(name, id, rights string) error {
	rs := make(imap.RightSet, 0, len(rights))
	for i := 0; i < len(rights); i++ {
		rs = append(rs, imap.Right(rights[i]))
	}
	return wrap("SETACL", name+" "+id+" "+rights,
		s.c.SetACL(name, imap.RightsIdentifier(id), imap.RightModificationReplace, rs).Wait())
}

// ListItem is one LIST answer.
type ListItem struct {
	Name  string
	Delim string
	Attrs []string // sorted, lower case
}

func (l ListItem) String() string {
	return fmt.Sprintf("%s (%s) %q", l.Name, strings.Join(l.Attrs, " "), l.Delim)
}

// List sends LIST "" pattern and returns the answers sorted by name.
func (s *IMAP) List(pattern string) ([]ListItem, error) {
	data, err := s.c.List("", pattern, nil).Collect()
	if err != nil {
		return nil, wrap("LIST", pattern, err)
	}
	out := make([]ListItem, 0, len(data))
	for _, d := range data {
		it := ListItem{Name: d.Mailbox}
		if d.Delim != 0 {
			it.Delim = string(d.Delim)
		}
		for _, a := range d.Attrs {
			it.Attrs = append(it.Attrs, strings.ToLower(string(a)))
		}
		sort.Strings(it.Attrs)
		out = append(out, it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Names is List reduced to the names.
func (s *IMAP) Names(pattern string) ([]string, error) {
	l, err := s.List(pattern)
	if err != nil {
		return nil, err
	}
	n := make([]string, len(l))
	for i := range l {
		n[i] = l[i].Name
	}
	return n, nil
}

func wrap(cmd, args string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("IMAP %s %s: %w", cmd, args, err)
}

// Append appends msg (a whole RFC 5322 message, CRLF line ends) to mailbox.
func (s *IMAP) Append(mailbox, msg string) error {
	cmd := s.c.Append(mailbox, int64(len(msg)), nil)
	if _, err := cmd.Write([]byte(msg)); err != nil {
		cmd.Close()
		return wrap("APPEND", mailbox, err)
	}
	if err := cmd.Close(); err != nil {
		return wrap("APPEND", mailbox, err)
	}
	_, err := cmd.Wait()
	return wrap("APPEND", mailbox, err)
}

// Select sends SELECT mailbox and returns its message count (EXISTS).
func (s *IMAP) Select(mailbox string) (uint32, error) {
	d, err := s.c.Select(mailbox, nil).Wait()
	if err != nil {
		return 0, wrap("SELECT", mailbox, err)
	}
	return d.NumMessages, nil
}
