package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

type lookupOptions struct {
	queryFlags
}

func newLookupCommand() *cobra.Command {
	var o lookupOptions
	cmd := &cobra.Command{
		Use:   "lookup NAME --registry URL | --bridge URL --token-file FILE",
		Short: "Print one mailbox of the registry as JSON",
		Long: `Print the registry entry of the mailbox NAME (an internal name, as
ctl_mboxlist -d spells it) as one JSON object: the members of a Cyrus 3.6
ctl_mboxlist -d entry (name, mtime, uidvalidity, createdmodseq,
foldermodseq, mbtype, partition, server, acl, uniqueid, legacy_specialuse,
name_history), server and partition being the preferred primary location,
plus "locations" (every location as server!partition, preferred primary
first) and "revision" (the registry revision of its last change).

A mailbox that is not in the registry is an error (exit status 5); if it was
deleted, the message gives the tombstone's revision and time.

` + exitcode.Help,
		Example: `  murder-bridge lookup user.fred.Sent --registry leveldb:///var/lib/murder-bridge/registry
  murder-bridge lookup 'example.com!user.jane' --registry etcd://127.0.0.1:2379/murder | jq .locations
  murder-bridge lookup user.fred --bridge http://127.0.0.1:8405 --token-file /etc/murder-bridge/http-token`,
		Args:    cobra.ExactArgs(1),
		PreRunE: o.check,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, func(ctx context.Context, s registry.Reader) error {
				return runLookup(ctx, s, args[0], cmd.OutOrStdout())
			})
		},
	}
	o.add(cmd)
	return cmd
}

// runLookup prints one entry as JSON.
func runLookup(ctx context.Context, s registry.Reader, name string, stdout io.Writer) error {
	e, err := s.Get(ctx, name)
	if errors.Is(err, registry.ErrNotFound) {
		if t, terr := s.GetTombstone(ctx, name); terr == nil {
			return exitcode.With(exitcode.Registry, errors.New("registry: lookup "+strconv.Quote(name)+": not found (deleted at revision "+
				strconv.FormatInt(t.Revision, 10)+", "+t.Time.Format("2006-01-02T15:04:05Z")+")"))
		}
	}
	if err != nil {
		return registryExit(err)
	}
	b, err := lookupJSON(&e)
	if err != nil {
		return exitcode.With(exitcode.Internal, err)
	}
	if _, err := stdout.Write(b); err != nil {
		return exitcode.With(exitcode.Output, err)
	}
	return nil
}

// lookupJSON renders e as ctl_mboxlist -d renders an entry (mboxlist's
// encoder), without the leading `"name": `, with locations and revision
// added as the last members.
func lookupJSON(e *registry.Entry) ([]byte, error) {
	me := e.Entry
	p := e.Primary()
	me.Server, me.Partition = p.Server, p.Partition
	one := mboxlist.AppendJSONEntry(nil, &me)
	i := bytes.IndexByte(one, '{')
	j := bytes.LastIndexByte(one, '}')
	if i < 0 || j < i {
		return nil, errors.New("lookup: mailbox name " + strconv.Quote(e.Name) + " cannot be printed as JSON")
	}
	obj := one[i:j]
	locs := make([]string, 0, len(e.Locations))
	for _, l := range e.Locations {
		locs = append(locs, l.String())
	}
	lj, err := json.Marshal(locs)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(bytes.TrimRight(obj, " \n\t"))
	b.WriteString(`, "locations": `)
	b.Write(lj)
	b.WriteString(`, "revision": `)
	b.WriteString(strconv.FormatInt(e.Revision, 10))
	b.WriteString("}\n")
	// Check that what we built is one valid JSON object.
	var check map[string]any
	if err := json.Unmarshal(b.Bytes(), &check); err != nil {
		return nil, errors.New("lookup: built invalid JSON: " + err.Error())
	}
	return b.Bytes(), nil
}
