package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb" // leveldb:// for --registry
	"github.com/murderkit/murderkit/shadow"
)

type shadowOptions struct {
	old, new, registry, dump string
	usersFile                string
	groupsFile               string
	allOwners                bool
	proxyUser, proxyPassFile string
	report, jsonFile, resume string
	concurrency              int
	rate                     float64
	timeout                  time.Duration
	retries                  int
	tlsCA                    string
	tlsInsecure              bool
	noExtended               bool
	progress                 string
	altNamespace, unixSep    bool
	nsFlagsSet               bool
	stderrIsTerminal         bool
	// slot: record the run's result on this slot (needs --registry)
	slot, tokenFile string
}

func (o *shadowOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.old, "old", "", "the old side: imap://host[:port] (LOGIN, STARTTLS when offered) or imaps://host[:port]")
	f.StringVar(&o.new, "new", "", "the new side as an IMAP URL (a new frontend)")
	f.StringVar(&o.slot, "slot", "", "record the result on this slot of --registry: clean moves mirrored to shadow-clean, a difference moves shadow-clean back to mirrored")
	f.StringVar(&o.tokenFile, "token-file", "", "with --registry http://BRIDGE: file holding the bridge's bearer token (its --http-token-file; reads need it too)")
	f.StringVar(&o.registry, "registry", "", "the new side is the registry at this URL (what Cyrus would LIST, computed from its reverse-ACL answer)")
	f.StringVar(&o.dump, "dump", "", "the new side is computed from a Cyrus 3.6 `ctl_mboxlist -d [-y]` JSON dump (before a registry exists)")
	f.StringVar(&o.usersFile, "users", "", "users to compare: `user:password` a line, or a bare `user` with --proxy-user (# comments)")
	f.BoolVar(&o.allOwners, "all-owners", false, "compare every user owning a mailbox (needs --proxy-user; owners come from --dump, or from the old side listed as the proxy user)")
	f.StringVar(&o.proxyUser, "proxy-user", "", "an admin that authorizes as each user with SASL PLAIN (authzid)")
	f.StringVar(&o.proxyPassFile, "proxy-password-file", "", "file holding --proxy-user's password (one trailing newline stripped)")
	f.StringVar(&o.groupsFile, "groups", "", "registry/dump side: `user: group group ...` a line, the Cyrus groups (group:NAME identifiers) each user is a member of")
	f.StringVar(&o.report, "report", "", "write an HTML report a person can read to this file")
	f.StringVar(&o.jsonFile, "json", "", "write one JSON line per user to this file")
	f.StringVar(&o.resume, "resume", "", "resume file: users already compared (equal or different) are skipped; every new result is appended")
	f.IntVar(&o.concurrency, "concurrency", 4, "users compared at once")
	f.Float64Var(&o.rate, "rate", 10, "at most this many users started per second (0: no limit)")
	f.DurationVar(&o.timeout, "timeout", time.Minute, "time limit for one attempt at one user (both sides)")
	f.IntVar(&o.retries, "retries", 2, "retries of a user after a network error (a NO from the server is final)")
	f.StringVar(&o.tlsCA, "tls-ca", "", "PEM file of CA certificates to trust for TLS (in addition to the system's)")
	f.BoolVar(&o.tlsInsecure, "tls-insecure", false, "do not verify TLS certificates (testing only)")
	f.BoolVar(&o.noExtended, "no-list-extended", false, "use plain LIST even where both sides offer LIST-EXTENDED")
	f.StringVar(&o.progress, "progress", "auto", "progress: auto (a bar on a terminal), bar, json (JSON lines on stderr), none")
	f.BoolVar(&o.altNamespace, "altnamespace", false, "registry/dump side: use the namespace of altnamespace: yes instead of what the old side announces")
	f.BoolVar(&o.unixSep, "unixhierarchysep", false, "registry/dump side: use the namespace of unixhierarchysep: yes instead of what the old side announces")
}

func newShadowCommand() *cobra.Command {
	o := &shadowOptions{}
	cmd := &cobra.Command{
		Use:   "shadow --old IMAP-URL (--new IMAP-URL | --registry URL | --dump FILE) (--users FILE | --all-owners)",
		Short: "Compare what IMAP LIST shows each user on the old side and on the new side",
		Long: `shadow logs in to the old side (a Cyrus frontend) as each user, runs LIST "" "*"
(LIST-EXTENDED RETURN (SUBSCRIBED SPECIAL-USE CHILDREN) where both sides offer it) and
compares names, hierarchy delimiters and attributes with the new side: another IMAP
frontend (--new), or what Cyrus would show the user computed from the registry
(--registry) or from a ctl_mboxlist -d dump (--dump), under the namespace the old side
announced to that user. Only what docs/shadow.md lists as cosmetic is normalised.
Against the registry or a dump only names, delimiters and \HasChildren-style attributes
are compared (subscriptions and special-use live on backends).

Each difference is printed on stdout as one line "USER: KIND NAME ...", KIND one of
only-old, only-new, attrs, delim, duplicate; a user that could not be compared prints
"USER: error ...". The summary goes to stderr.

Exit status (full table below): 0 every user equal, 1 some user differs, 6 some user
could not be compared after retries (even when others differ; the differences are still
printed and written to --json/--report).`,
		Example: `  murder-bridge shadow --old imap://frontend1:143 --new imaps://newfront:993 --users users.txt --report shadow.html
  murder-bridge shadow --old imap://frontend1 --dump mailboxes.json --all-owners \
      --proxy-user admin --proxy-password-file admin.pw --json shadow.jsonl --resume shadow.state
  murder-bridge shadow --old imap://frontend1 --registry leveldb:///var/lib/murder-bridge/registry --users users.txt
  # through a running bridge's HTTP API, recording a clean run on slot be1
  murder-bridge shadow --old imap://frontend1 --registry http://127.0.0.1:8405 --users users.txt --slot be1 --token-file token`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			o.nsFlagsSet = cmd.Flags().Changed("altnamespace") || cmd.Flags().Changed("unixhierarchysep")
			return o.check()
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.stderrIsTerminal = term.IsTerminal(int(os.Stderr.Fd()))
			// SIGINT and SIGTERM end the root context (main)
			return runShadow(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func usage(format string, a ...any) error {
	return exitcode.With(exitcode.Usage, fmt.Errorf(format, a...))
}

func (o *shadowOptions) check() error {
	if o.old == "" {
		return usage("--old is required")
	}
	n := 0
	for _, s := range []string{o.new, o.registry, o.dump} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return usage("give exactly one of --new, --registry, --dump")
	}
	if (o.usersFile == "") == !o.allOwners {
		return usage("give exactly one of --users and --all-owners")
	}
	if o.slot != "" && o.registry == "" {
		return usage("--slot needs --registry (the slot is recorded there)")
	}
	if o.allOwners && o.proxyUser == "" {
		return usage("--all-owners needs --proxy-user and --proxy-password-file (there are no user passwords)")
	}
	if (o.proxyUser == "") != (o.proxyPassFile == "") {
		return usage("--proxy-user and --proxy-password-file go together")
	}
	if o.concurrency < 1 {
		return usage("--concurrency must be at least 1")
	}
	if o.rate < 0 || o.retries < 0 || o.timeout <= 0 {
		return usage("--rate and --retries must not be negative, --timeout must be positive")
	}
	switch o.progress {
	case "auto", "bar", "json", "none":
	default:
		return usage("--progress must be auto, bar, json or none")
	}
	return nil
}

// readUsers parses --users: `user:password` a line, or a bare `user` when
// proxy authorization is used. Blank lines and lines starting with # are
// skipped.
func readUsers(r io.Reader, proxy bool) ([]shadow.User, error) {
	var users []shadow.User
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(s) == "" || strings.HasPrefix(strings.TrimSpace(s), "#") {
			continue
		}
		name, pw, hasPw := strings.Cut(s, ":")
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("line %d: empty user name", line)
		}
		if !hasPw && !proxy {
			return nil, fmt.Errorf("line %d: %q has no password (give user:password, or use --proxy-user)", line, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("line %d: user %q listed twice", line, name)
		}
		seen[name] = true
		users = append(users, shadow.User{Name: name, Password: pw})
	}
	return users, sc.Err()
}

func (o *shadowOptions) tlsConfig() (*tls.Config, error) {
	c := &tls.Config{InsecureSkipVerify: o.tlsInsecure}
	if o.tlsCA != "" {
		pem, err := os.ReadFile(o.tlsCA)
		if err != nil {
			return nil, err
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", o.tlsCA)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// shadowRun is one run of shadow: what its steps share.
type shadowRun struct {
	o              *shadowOptions
	stdout, stderr io.Writer

	oldSrc      *shadow.IMAPSource
	newSrc      shadow.Source
	structural  bool               // the new side is computed (dump or registry): compare structure only
	dumpEntries []shadow.DumpEntry // --dump
	store       slotRegistryCloser // --registry
	users       []shadow.User
	previous    map[string]shadow.Result // --resume: users already compared
	resumeFile  *os.File
	jsonOut     *bufio.Writer
	closers     []func() // run in reverse order when the run ends
}

// runShadow compares what each user sees on the old and the new side:
// open both sides, check the proxy login, list the users, open the
// outputs, compare, write the report, then the outcome (exit status, slot).
func runShadow(ctx context.Context, o *shadowOptions, stdout, stderr io.Writer) error {
	r := &shadowRun{o: o, stdout: stdout, stderr: stderr, previous: map[string]shadow.Result{}}
	defer r.close()
	if err := r.openSides(ctx); err != nil {
		return err
	}
	if err := r.checkProxy(ctx); err != nil {
		return err
	}
	if err := r.listUsers(ctx); err != nil {
		return err
	}
	if err := r.openOutputs(); err != nil {
		return err
	}
	sum, results, runErr, writeErr := r.compare(ctx)
	if writeErr != nil {
		return exitcode.With(exitcode.Output, writeErr)
	}
	if err := r.writeReport(sum, results); err != nil {
		return err
	}
	return r.outcome(ctx, sum, runErr)
}

func (r *shadowRun) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
}

// openSides sets up the old side (IMAP) and the new side (IMAP, a dump or
// the registry, with --groups).
func (r *shadowRun) openSides(ctx context.Context) error {
	o := r.o
	tc, err := o.tlsConfig()
	if err != nil {
		return exitcode.With(exitcode.Input, fmt.Errorf("--tls-ca: %w", err))
	}
	proxyPw := ""
	if o.proxyPassFile != "" {
		if proxyPw, err = readSecret("--proxy-password-file", o.proxyPassFile); err != nil {
			return err
		}
	}
	newIMAP := func(s string) (*shadow.IMAPSource, error) {
		u, err := shadow.ParseIMAPURL(s)
		if err != nil {
			return nil, exitcode.With(exitcode.Usage, err)
		}
		return &shadow.IMAPSource{URL: u, TLSConfig: tc, ProxyUser: o.proxyUser, ProxyPassword: proxyPw, NoExtended: o.noExtended}, nil
	}
	if r.oldSrc, err = newIMAP(o.old); err != nil {
		return err
	}
	groups := map[string][]string{}
	if o.groupsFile != "" {
		f, err := os.Open(o.groupsFile)
		if err != nil {
			return exitcode.With(exitcode.Input, err)
		}
		groups, err = readGroups(f)
		f.Close()
		if err != nil {
			return exitcode.With(exitcode.Input, fmt.Errorf("%s: %w", o.groupsFile, err))
		}
	}
	switch {
	case o.new != "":
		s, err := newIMAP(o.new)
		if err != nil {
			return err
		}
		r.newSrc = s
	case o.dump != "":
		f, err := os.Open(o.dump)
		if err != nil {
			return exitcode.With(exitcode.Input, err)
		}
		r.dumpEntries, err = shadow.ReadDump(f)
		f.Close()
		if err != nil {
			return exitcode.With(exitcode.Input, fmt.Errorf("%s: %w", o.dump, err))
		}
		rs := &shadow.RegistrySource{Name: "dump:" + o.dump, Visible: shadow.DumpVisible(r.dumpEntries, groups)}
		if o.nsFlagsSet {
			ns := shadow.StandardNamespace(o.altNamespace, o.unixSep)
			rs.Namespace = &ns
		}
		r.newSrc, r.structural = rs, true
	case o.registry != "":
		rs, st, err := registrySource(ctx, o.registry, o.tokenFile, groups)
		if err != nil {
			return err
		}
		r.store = st
		r.closers = append(r.closers, func() { st.Close() })
		if o.nsFlagsSet {
			ns := shadow.StandardNamespace(o.altNamespace, o.unixSep)
			rs.Namespace = &ns
		}
		r.newSrc, r.structural = rs, true
	}
	return nil
}

// checkProxy checks the proxy user's own login once, on every IMAP side,
// first: a wrong admin password would fail every user's login, one by one.
func (r *shadowRun) checkProxy(ctx context.Context) error {
	for _, side := range []shadow.Source{r.oldSrc, r.newSrc} {
		if is, ok := side.(*shadow.IMAPSource); ok {
			if err := is.CheckProxy(ctx); err != nil {
				if errors.Is(err, shadow.ErrProxyRefused) {
					return exitcode.With(exitcode.Auth, fmt.Errorf("%w: check --proxy-user/--proxy-password-file (no user was compared)", err))
				}
				return exitcode.With(exitcode.Network, err)
			}
		}
	}
	return nil
}

// listUsers reads --users, or (--all-owners) takes every owner of a
// mailbox from the dump, the registry or the old side.
func (r *shadowRun) listUsers(ctx context.Context) error {
	o := r.o
	if o.usersFile != "" {
		f, err := os.Open(o.usersFile)
		if err != nil {
			return exitcode.With(exitcode.Input, err)
		}
		r.users, err = readUsers(f, o.proxyUser != "")
		f.Close()
		if err != nil {
			return exitcode.With(exitcode.Input, fmt.Errorf("%s: %w", o.usersFile, err))
		}
		return nil
	}
	var names []string
	var err error
	switch {
	case r.dumpEntries != nil:
		names = shadow.DumpOwners(r.dumpEntries)
	case r.store != nil:
		names, err = shadow.StoreOwners(ctx, r.store)
		if errors.Is(err, registry.ErrInvalid) {
			// A bridge's HTTP API cannot list every entry: ask
			// the old side, as the admin.
			names, err = nil, nil
			break
		}
		if err != nil {
			return exitcode.With(exitcode.Registry, fmt.Errorf("--all-owners: %w", err))
		}
	}
	if names == nil && r.dumpEntries == nil {
		names, err = r.oldSrc.Owners(ctx)
		if err != nil {
			return exitcode.With(exitcode.Network, fmt.Errorf("--all-owners: %w", err))
		}
	}
	for _, n := range names {
		r.users = append(r.users, shadow.User{Name: n})
	}
	return nil
}

// openOutputs reads and opens the --resume file and creates the --json
// file.
func (r *shadowRun) openOutputs() error {
	o := r.o
	if o.resume != "" {
		if f, err := os.Open(o.resume); err == nil {
			r.previous, err = shadow.ReadResults(f)
			f.Close()
			if err != nil {
				return exitcode.With(exitcode.Input, fmt.Errorf("--resume %s: %w", o.resume, err))
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return exitcode.With(exitcode.Input, err)
		}
		f, err := os.OpenFile(o.resume, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return exitcode.With(exitcode.Output, err)
		}
		r.resumeFile = f
		r.closers = append(r.closers, func() { f.Close() })
	}
	if o.jsonFile != "" {
		f, err := os.Create(o.jsonFile)
		if err != nil {
			return exitcode.With(exitcode.Output, err)
		}
		r.jsonOut = bufio.NewWriter(f)
		r.closers = append(r.closers, func() { f.Close() }, func() { r.jsonOut.Flush() })
	}
	return nil
}

// progressMode is --progress with auto decided: a bar on a terminal.
func (o *shadowOptions) progressMode() string {
	if o.progress != "auto" {
		return o.progress
	}
	if o.stderrIsTerminal {
		return "bar"
	}
	return "none"
}

// compare compares every user, writing each difference to stdout as it
// comes, each result to --json and --resume, and the progress to stderr,
// then the summary to stderr. results are kept for --report only.
func (r *shadowRun) compare(ctx context.Context) (sum shadow.Summary, results []shadow.Result, runErr, writeErr error) {
	o := r.o
	mode := o.progressMode()
	var bar *progressbar.ProgressBar
	if mode == "bar" {
		bar = progressbar.NewOptions(len(r.users), progressbar.OptionSetWriter(r.stderr),
			progressbar.OptionSetDescription("shadow"), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond))
	}
	done, onlyNew := 0, false
	runner := &shadow.Runner{
		Old: r.oldSrc, New: r.newSrc,
		Concurrency: o.concurrency, Rate: o.rate, Timeout: o.timeout, Retries: o.retries,
		Compare:  shadow.CompareOptions{StructuralOnly: r.structural},
		Previous: r.previous,
		OnResult: func(res shadow.Result) {
			done++
			for _, d := range res.Differences {
				onlyNew = onlyNew || d.Kind == shadow.OnlyNew
			}
			shadow.WriteDifferences(r.stdout, res)
			if r.jsonOut != nil && writeErr == nil {
				writeErr = shadow.WriteResult(r.jsonOut, res)
			}
			if r.resumeFile != nil && !res.Resumed && writeErr == nil {
				writeErr = shadow.WriteResult(r.resumeFile, res)
			}
			if o.report != "" {
				results = append(results, res)
			}
			switch mode {
			case "bar":
				bar.Add(1)
			case "json":
				b, _ := json.Marshal(map[string]any{"done": done, "total": len(r.users), "user": res.User, "status": res.Status})
				fmt.Fprintf(r.stderr, "%s\n", b)
			}
		},
	}
	sum, runErr = runner.Run(ctx, r.users)
	if bar != nil {
		bar.Finish()
	}
	shadow.WriteSummary(r.stderr, sum)
	if onlyNew && r.structural {
		// docs/shadow.md, "Where an old Cyrus frontend's answer comes from"
		fmt.Fprintln(r.stderr, "shadow: note: a name only the registry lists is often an entry the old master keeps for a backend that no longer holds it (Cyrus 3.6 leaves them after a DELETE with delete_mode: immediate and after LOCALDELETE); `mboxconv check-backend` names them per backend, docs/runbook.md step 4 says how to clean them")
	}
	return sum, results, runErr, writeErr
}

// writeReport writes the --report HTML file, users in name order.
func (r *shadowRun) writeReport(sum shadow.Summary, results []shadow.Result) error {
	if r.o.report == "" {
		return nil
	}
	sort.Slice(results, func(i, j int) bool { return results[i].User < results[j].User })
	f, err := os.Create(r.o.report)
	if err != nil {
		return exitcode.With(exitcode.Output, err)
	}
	err = shadow.WriteHTML(f, shadow.ReportInfo{Old: r.oldSrc.String(), New: r.newSrc.String(), Generated: time.Now()}, sum, results)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return exitcode.With(exitcode.Output, fmt.Errorf("--report: %w", err))
	}
	return nil
}

// outcome turns the run into its exit status and records a complete run
// on --slot.
func (r *shadowRun) outcome(ctx context.Context, sum shadow.Summary, runErr error) error {
	if runErr != nil {
		if ctx.Err() != nil || errors.Is(runErr, context.Canceled) {
			return exitcode.With(exitcode.Interrupted, fmt.Errorf("interrupted after %d of %d users: %w", sum.Users, len(r.users), runErr))
		}
		return exitcode.With(exitcode.Network, fmt.Errorf("stopped after %d of %d users: %w", sum.Users, len(r.users), runErr))
	}
	if sum.Errors > 0 {
		return exitcode.With(exitcode.Network, fmt.Errorf("%d of %d users could not be compared", sum.Errors, sum.Users))
	}
	if r.o.slot != "" {
		sl, err := recordShadowRun(ctx, r.store, r.o.slot, sum.Different == 0,
			fmt.Sprintf("shadow %s vs %s: %d users, %d different", r.oldSrc.String(), r.newSrc.String(), sum.Users, sum.Different))
		if err != nil {
			return err
		}
		fmt.Fprintf(r.stderr, "slot %s: %s\n", sl.Name, sl.State)
	}
	if sum.Different > 0 {
		return exitcode.With(exitcode.Difference, fmt.Errorf("%d of %d users differ", sum.Different, sum.Users))
	}
	return nil
}

// registrySource opens the registry for the new side. The store stays open
// until the program exits.
func registrySource(ctx context.Context, rawURL, tokenFile string, groups map[string][]string) (*shadow.RegistrySource, slotRegistryCloser, error) {
	if strings.HasPrefix(rawURL, "http://") || strings.HasPrefix(rawURL, "https://") {
		// a running bridge's HTTP API (it owns its leveldb registry)
		if tokenFile == "" {
			return nil, nil, exitcode.With(exitcode.Usage, errors.New("--registry http://BRIDGE needs --token-file FILE: the bridge serves registry reads only with its bearer token (its --http-token-file)"))
		}
		token, err := readSecret("--token-file", tokenFile)
		if err != nil {
			return nil, nil, err
		}
		hc, err := httpapi.NewClient(rawURL, token)
		if err != nil {
			return nil, nil, exitcode.With(exitcode.Usage, err)
		}
		return &shadow.RegistrySource{Name: rawURL, Visible: shadow.StoreVisible(hc, groups)}, hc, nil
	}
	st, err := registry.OpenExisting(ctx, rawURL)
	if err != nil {
		if errors.Is(err, leveldb.ErrLocked) {
			err = fmt.Errorf("%w (give the bridge's http://HOST:PORT as --registry, or stop the bridge)", err)
		}
		return nil, nil, exitcode.With(exitcode.Registry, err)
	}
	return &shadow.RegistrySource{Name: rawURL, Visible: shadow.StoreVisible(st, groups)}, st, nil
}

// readGroups parses --groups: `user: g1 g2 ...` a line (a "group:" prefix on
// a name is accepted and dropped); blank lines and # comments are skipped.
func readGroups(r io.Reader) (map[string][]string, error) {
	out := map[string][]string{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		user, list, ok := strings.Cut(s, ":")
		user = strings.TrimSpace(user)
		if !ok || user == "" {
			return nil, fmt.Errorf("line %d: want `user: group ...`", line)
		}
		for _, g := range strings.Fields(list) {
			out[user] = append(out[user], strings.TrimPrefix(g, "group:"))
		}
	}
	return out, sc.Err()
}

// recordShadowRun records a shadow run's result on a slot: clean moves a
// mirrored slot to shadow-clean; differences move a shadow-clean slot back
// to mirrored (cutover then refuses). Other states are left alone.
func recordShadowRun(ctx context.Context, st slotRegistry, name string, clean bool, summary string) (registry.Slot, error) {
	s, err := st.GetSlot(ctx, name)
	if err != nil {
		return s, registryExit(err)
	}
	var to registry.SlotState
	switch {
	case clean && s.State == registry.SlotMirrored:
		to = registry.SlotShadowClean
	case !clean && s.State == registry.SlotShadowClean:
		to = registry.SlotMirrored
	default:
		return s, nil
	}
	return moveSlot(ctx, st, s, to, false, "shadow", summary)
}
