package murdertest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/eventually"
)

// CyrMaster is Debian's name for Cyrus' master process.
var CyrMaster = "/usr/sbin/cyrmaster"

// DefaultUsers are the SASL users every instance knows (as the lab's).
// "murder" is the mupdate and proxy identity; "admin" is a Cyrus admin.
var DefaultUsers = map[string]string{
	"admin":  "adminpw",
	"murder": "murderpw",
	"alice":  "alicepw",
	"bob":    "bobpw",
}

// Role is what an instance is in the murder.
type Role string

const (
	RoleMaster   Role = "master"   // cyrmaster running `mupdate -m`
	RoleBackend  Role = "backend"  // imapd mailstore (proxyservers set, pushes to mupdate)
	RoleFrontend Role = "frontend" // imapd proxy plus a mupdate slave
	// RoleUnified is a server that is frontend and backend at once
	// (`mupdate_config: unified`): imapd holding its own mailboxes and
	// proxying to the other servers', plus a mupdate slave that keeps the
	// other servers' mailboxes in its mailboxes.db.
	RoleUnified Role = "unified"
)

// StartTimeout bounds every readiness wait.
var StartTimeout = 60 * time.Second

// Options configure one instance. The zero value reproduces the lab.
type Options struct {
	// Name labels the instance's directory and syslog prefix; default: the role.
	Name string
	// Users are added to DefaultUsers (and override their passwords).
	Users map[string]string
	// ClientMech is force_sasl_client_mech of a backend or frontend: "" means
	// PLAIN (as the lab), "none" leaves it unset so Cyrus picks the strongest
	// mechanism the server offers (SCRAM-SHA-512 against Cyrus' default list).
	ClientMech string
	// MasterMechs is sasl_mech_list of a master: "" means "PLAIN LOGIN",
	// "none" leaves Cyrus' default (SCRAM-*, DIGEST-MD5, CRAM-MD5, NTLM).
	MasterMechs string
	// Serverlist is a frontend's serverlist (backend servernames, where
	// CREATE through the frontend may place new mailboxes).
	Serverlist []string
	// Standalone starts a backend without mupdate_server, as a server not
	// yet in a murder (Join adds it later).
	Standalone bool
	// RetryDelay is a frontend's mupdate_retry_delay in seconds (default 5,
	// as the lab; the slave sends NOOP that often and reconnects that fast).
	RetryDelay int
	// Admins are added to imapd.conf's admins ("admin"; a master also has
	// "murder"). A backend that receives XFER needs the proxying identity
	// ("murder") here: replication commands are for admins only.
	Admins []string
	// Saslauthd, when set, is the socket of a saslauthd (StartSaslauthd):
	// imapd.conf then says `sasl_pwcheck_method: saslauthd` and
	// `sasl_saslauthd_path: Saslauthd` instead of auxprop with the
	// instance's sasldb (which is still made). Only for the installed
	// Cyrus (no Release): a release's chroot does not see the socket.
	Saslauthd string
	// Extra lines are appended to imapd.conf verbatim (not for settings
	// written already, such as admins).
	Extra []string
	// MasterCmd, for a master, is the cmd of its cyrus.conf SERVICES
	// entry instead of `mupdate -m` (same name, listen= and prefork=1):
	// a drop-in replacement such as murder-bridge. It is called when
	// the configuration is written (in.Dir and in.Conf exist; files it
	// writes under in.Dir are given to the cyrus user) and must return
	// an absolute path and arguments without spaces (cyrmaster splits
	// cmd on whitespace and does no quoting).
	MasterCmd func(in *Instance) string
	// IMAPAddr fixes a backend's IMAP listen address (default: a free
	// 127.0.0.1 port); its servername is still this address.
	IMAPAddr string
	// Servername overrides a backend's servername (default: its IMAP
	// address, which frontends connect to). Two backends replicating to
	// each other are in the murder under one servername.
	Servername string
	// SyncServer makes a backend a replica: it runs sync_server on a free
	// port (Instance.SyncAddr). The sync client's identity ("murder")
	// must be in Admins.
	SyncServer bool
	// SyncTo makes a backend a replication primary with rolling
	// replication to the sync_server at SyncTo (host:port): `sync_log: 1`,
	// sync_host/sync_port, sync_authname "murder", `sync_repeat_interval:
	// 1`, `sync_reconnect_maxwait: 1s`, and `sync_client -r` in
	// cyrus.conf's DAEMON section (Debian's cyrus-replication package).
	SyncTo string
	// Release runs another Cyrus release (cyrustest.ReleaseOf) in its
	// chroot; the zero value is the host's 3.6. The instance's directory is
	// then inside the chroot and every process runs chrooted.
	Release cyrustest.Release
	// Hosts are names added to /etc/hosts as the instance's processes see
	// it (name → loopback address; a bind mount in the instance's mount
	// namespace, the host's file is untouched). Cyrus's backend_connect
	// splits mupdate_server at its first ':', so an IPv6 address with a
	// port cannot be written there: a name resolving to ::1 can. For a
	// Release, the chroot's /etc/hosts is the base and is bind-mounted
	// over the same way (the chroot's file is untouched).
	Hosts map[string]string
	// IPv6 puts a master's MUPDATE listener on [::1] (MupdateAddr is then
	// "[::1]:PORT"); Cyrus clients reach it through a name in Hosts.
	IPv6 bool
}

// Instance is one running Cyrus server (one cyrmaster and its children).
type Instance struct {
	Role       Role
	Name       string
	Dir        string // top directory (temporary)
	Conf       string // imapd.conf
	CyrusConf  string // cyrus.conf
	ConfigDir  string // configdirectory (holds mailboxes.db)
	Servername string
	// IMAPAddr is the IMAP listener of a backend or frontend.
	IMAPAddr string
	// MupdateAddr is the MUPDATE listener: a master's, or a frontend slave's
	// (read-only).
	MupdateAddr string
	// SyncAddr is a replica's sync_server listener (Options.SyncServer).
	SyncAddr string
	// MupdateServer is the master a backend or frontend talks to ("" for a
	// standalone backend or a master).
	MupdateServer string
	// Users holds every SASL user and password of this instance.
	Users map[string]string

	opts    Options
	rel     cyrustest.Release
	cfg     *cyrustest.Config // for Inside and Chown in the release
	log     *sink
	started bool // started once: its ports are fixed

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartMaster starts a real mupdate master on a free port.
func StartMaster(t testing.TB, opts Options) *Instance {
	t.Helper()
	in := newInstance(t, RoleMaster, "", opts)
	in.start(t)
	return in
}

// StartBackend starts a real backend imapd whose mupdate_server is
// mupdateAddr (host:port; ignored with opts.Standalone).
func StartBackend(t testing.TB, mupdateAddr string, opts Options) *Instance {
	t.Helper()
	if opts.Standalone {
		mupdateAddr = ""
	}
	in := newInstance(t, RoleBackend, mupdateAddr, opts)
	in.start(t)
	return in
}

// StartFrontend starts a real frontend: imapd plus a mupdate slave that
// replicates mupdateAddr. It returns once the slave has finished its first
// UPDATE sync (its listener only greets after that).
func StartFrontend(t testing.TB, mupdateAddr string, opts Options) *Instance {
	t.Helper()
	in := newInstance(t, RoleFrontend, mupdateAddr, opts)
	in.start(t)
	return in
}

// StartUnified starts a real unified server (`mupdate_config: unified`):
// imapd plus a mupdate slave of mupdateAddr, holding its own mailboxes and
// proxying to the other servers'. Its servername is its IMAP address (the
// other unified servers proxy there); proxyservers and proxy_authname are
// both "murder". It returns once the slave has finished its first sync.
func StartUnified(t testing.TB, mupdateAddr string, opts Options) *Instance {
	t.Helper()
	in := newInstance(t, RoleUnified, mupdateAddr, opts)
	in.start(t)
	return in
}

// FreePort returns a 127.0.0.1 TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreePort6 returns a [::1] TCP port that was free a moment ago. It fails
// the test, naming the cause, when the machine has no IPv6 loopback.
func FreePort6(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("murdertest: this machine has no usable IPv6 loopback (listen on [::1]: %v); IPv6 tests need ::1 on lo", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newInstance(t testing.TB, role Role, mupdateAddr string, opts Options) *Instance {
	t.Helper()
	if opts.Release.Root == "" {
		for _, tool := range []string{"mupdate", "imapd", "ctl_mboxlist", "ctl_cyrusdb"} {
			cyrustest.Tool(t, tool)
		}
	}
	for _, p := range []string{CyrMaster, "/usr/sbin/saslpasswd2", "/usr/bin/unshare", "/usr/bin/setpriv"} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("murdertest needs %s (%v): install cyrus-imapd, sasl2-bin, util-linux", p, err)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatalf("murdertest needs root: cyrmaster drops to the cyrus user itself and the syslog namespace needs mount rights")
	}
	name := opts.Name
	if name == "" {
		name = string(role)
	}
	tmp := ""
	if opts.Release.Root != "" {
		tmp = filepath.Join(opts.Release.Root, "tmp")
	}
	dir, err := os.MkdirTemp(tmp, "murdertest-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	in := &Instance{
		Role: role, Name: name, Dir: dir,
		Conf:          filepath.Join(dir, "imapd.conf"),
		CyrusConf:     filepath.Join(dir, "cyrus.conf"),
		ConfigDir:     filepath.Join(dir, "conf"),
		MupdateServer: mupdateAddr,
		Users:         map[string]string{},
		opts:          opts,
		rel:           opts.Release,
	}
	in.cfg = &cyrustest.Config{Dir: dir, Release: opts.Release}
	t.Cleanup(func() {
		in.Stop()
		if in.log != nil {
			in.log.close()
		}
		if t.Failed() || os.Getenv("MURDERTEST_KEEP") != "" {
			t.Logf("murdertest: %s %s kept in %s (syslog.log there)", role, name, dir)
			return
		}
		os.RemoveAll(dir)
	})
	for k, v := range DefaultUsers {
		in.Users[k] = v
	}
	for k, v := range opts.Users {
		in.Users[k] = v
	}
	if role != RoleBackend && role != RoleUnified {
		in.Servername = name + ".murdertest"
	}
	in.pickPorts(t)
	for _, d := range []string{"spool", "conf/socket", "conf/proc", "conf/lock", "conf/log", "conf/db",
		"conf/user", "conf/quota", "conf/sieve", "conf/msg", "conf/ptclient", "conf/sync"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	in.writeConf(t)
	in.makeSASLDB(t)
	in.writeHosts(t)
	if err := in.cfg.Chown(dir); err != nil {
		t.Fatal(err)
	}
	s, err := newSink(filepath.Join(dir, "log.sock"), filepath.Join(dir, "syslog.log"))
	if err != nil {
		t.Fatalf("murdertest: syslog socket: %v", err)
	}
	in.log = s
	return in
}

func (in *Instance) writeConf(t testing.TB) {
	t.Helper()
	o := in.opts
	ins := in.cfg.Inside
	mupdateConfig := "standard"
	if in.Role == RoleUnified {
		mupdateConfig = "unified"
	}
	lines := []string{
		"servername: " + in.Servername,
		"configdirectory: " + ins(in.ConfigDir),
		"partition-default: " + ins(filepath.Join(in.Dir, "spool")),
		"defaultpartition: default",
		"mupdate_config: " + mupdateConfig,
	}
	if o.Saslauthd != "" {
		lines = append(lines, "sasl_pwcheck_method: saslauthd", "sasl_saslauthd_path: "+o.Saslauthd)
	} else {
		lines = append(lines, "sasl_pwcheck_method: auxprop", "sasl_auxprop_plugin: sasldb",
			"sasl_sasldb_path: "+ins(filepath.Join(in.Dir, "sasldb2")))
	}
	lines = append(lines,
		"allowplaintext: yes",
		"unixhierarchysep: no",
		"altnamespace: no",
		"syslog_prefix: murdertest-"+in.Name,
	)
	client := func() {
		lines = append(lines,
			"mupdate_authname: murder",
			"mupdate_password: "+in.Users["murder"])
		switch o.ClientMech {
		case "":
			lines = append(lines, "force_sasl_client_mech: PLAIN")
		case "none":
		default:
			lines = append(lines, "force_sasl_client_mech: "+o.ClientMech)
		}
	}
	var services, daemons string
	bin := cyrustest.BinDir
	switch in.Role {
	case RoleMaster:
		lines = append(lines, "admins: "+strings.Join(append([]string{"admin", "murder"}, o.Admins...), " "))
		switch o.MasterMechs {
		case "":
			lines = append(lines, "sasl_mech_list: PLAIN LOGIN")
		case "none":
		default:
			lines = append(lines, "sasl_mech_list: "+o.MasterMechs)
		}
		cmd := fmt.Sprintf("%s/mupdate -C %s -m", bin, ins(in.Conf))
		if o.MasterCmd != nil {
			cmd = o.MasterCmd(in)
		}
		services = fmt.Sprintf("  mupdate cmd=\"%s\" listen=\"%s\" prefork=1\n", cmd, in.MupdateAddr)
	case RoleBackend:
		lines = append(lines, "admins: "+strings.Join(append([]string{"admin"}, o.Admins...), " "), "proxyservers: murder", "sasl_mech_list: PLAIN LOGIN")
		if in.MupdateServer != "" {
			lines = append(lines, "mupdate_server: "+in.MupdateServer)
		}
		client()
		services = fmt.Sprintf("  imap cmd=\"%s/imapd -C %s\" listen=\"%s\" prefork=0\n", bin, ins(in.Conf), in.IMAPAddr)
		if o.SyncServer {
			services += fmt.Sprintf("  syncserver cmd=\"%s/sync_server -C %s\" listen=\"%s\" prefork=0\n", bin, ins(in.Conf), in.SyncAddr)
		}
		if o.SyncTo != "" {
			host, port, err := net.SplitHostPort(o.SyncTo)
			if err != nil {
				t.Fatalf("murdertest: SyncTo %q: %v", o.SyncTo, err)
			}
			lines = append(lines, "sync_log: 1", "sync_host: "+host, "sync_port: "+port,
				"sync_authname: murder", "sync_password: "+in.Users["murder"], "sync_repeat_interval: 1",
				// a replica that was stopped is reconnected to within a second
				// (the default backoff doubles from 15 s)
				"sync_reconnect_maxwait: 1s")
			daemons = fmt.Sprintf("  syncclient cmd=\"%s/sync_client -C %s -r\"\n", bin, ins(in.Conf))
		}
	case RoleUnified:
		rd := o.RetryDelay
		if rd == 0 {
			rd = 5
		}
		lines = append(lines, "admins: "+strings.Join(append([]string{"admin"}, o.Admins...), " "), "sasl_mech_list: PLAIN LOGIN",
			"proxyservers: murder",
			"mupdate_server: "+in.MupdateServer,
			"mupdate_retry_delay: "+strconv.Itoa(rd),
			"proxy_authname: murder",
			"proxy_password: "+in.Users["murder"])
		client()
		services = fmt.Sprintf("  mupdate cmd=\"%s/mupdate -C %s\" listen=\"%s\" prefork=1\n", bin, ins(in.Conf), in.MupdateAddr) +
			fmt.Sprintf("  imap cmd=\"%s/imapd -C %s\" listen=\"%s\" prefork=0\n", bin, ins(in.Conf), in.IMAPAddr)
	case RoleFrontend:
		rd := o.RetryDelay
		if rd == 0 {
			rd = 5
		}
		lines = append(lines, "admins: "+strings.Join(append([]string{"admin"}, o.Admins...), " "), "sasl_mech_list: PLAIN LOGIN",
			"mupdate_server: "+in.MupdateServer,
			"mupdate_retry_delay: "+strconv.Itoa(rd),
			"proxy_authname: murder",
			"proxy_password: "+in.Users["murder"])
		if len(o.Serverlist) > 0 {
			lines = append(lines, "serverlist: "+strings.Join(o.Serverlist, " "))
		}
		client()
		services = fmt.Sprintf("  mupdate cmd=\"%s/mupdate -C %s\" listen=\"%s\" prefork=1\n", bin, ins(in.Conf), in.MupdateAddr) +
			fmt.Sprintf("  imap cmd=\"%s/imapd -C %s\" listen=\"%s\" prefork=0\n", bin, ins(in.Conf), in.IMAPAddr)
	}
	lines = append(lines, o.Extra...)
	cyrusConf := fmt.Sprintf("START {\n  recover cmd=\"%[1]s/ctl_cyrusdb -C %[2]s -r\"\n}\nSERVICES {\n%[3]s}\nEVENTS {\n  checkpoint cmd=\"%[1]s/ctl_cyrusdb -C %[2]s -c\" period=30\n}\n",
		bin, ins(in.Conf), services)
	if daemons != "" {
		cyrusConf += "DAEMON {\n" + daemons + "}\n"
	}
	if err := os.WriteFile(in.Conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in.CyrusConf, []byte(cyrusConf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeHosts writes the instance's /etc/hosts (the lines of the host's, or
// of the release's chroot's, then opts.Hosts), used when opts.Hosts is set.
func (in *Instance) writeHosts(t testing.TB) {
	t.Helper()
	if len(in.opts.Hosts) == 0 {
		return
	}
	names := make([]string, 0, len(in.opts.Hosts))
	for n, a := range in.opts.Hosts {
		if ip := net.ParseIP(a); ip == nil || !ip.IsLoopback() {
			t.Fatalf("murdertest: Options.Hosts[%q] = %q: not a loopback address", n, a)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	base := filepath.Join("/", in.rel.Root, "etc", "hosts")
	b, err := os.ReadFile(base)
	if err != nil {
		t.Fatalf("murdertest: Options.Hosts: %v", err)
	}
	for _, n := range names {
		b = append(b, fmt.Sprintf("%s %s\n", in.opts.Hosts[n], n)...)
	}
	if err := os.WriteFile(filepath.Join(in.Dir, "hosts"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// makeSASLDB creates every user in the realm Cyrus looks them up in: the
// instance's servername (Cyrus calls sasl_server_new with user_realm NULL).
func (in *Instance) makeSASLDB(t testing.TB) {
	t.Helper()
	db := filepath.Join(in.Dir, "sasldb2")
	users := make([]string, 0, len(in.Users))
	for u := range in.Users {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		cmd := exec.Command("/usr/sbin/saslpasswd2", "-p", "-c", "-f", db, "-u", in.Servername, u)
		if in.rel.Root != "" {
			cmd = exec.Command("chroot", in.rel.Root, "/usr/sbin/saslpasswd2", "-p", "-c", "-f", in.cfg.Inside(db), "-u", in.Servername, u)
		}
		cmd.Stdin = strings.NewReader(in.Users[u])
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("saslpasswd2 %s: %v: %s", u, err, out)
		}
	}
	os.Chmod(db, 0o640)
}

// nsScript runs "$@" in a private mount namespace whose /dev/log is the
// instance's syslog socket ($1) and whose /etc/hosts is $2 unless that is
// empty. The rest of /dev is a few device nodes.
const nsScript = `set -e
sock="$1"; hosts="$2"; shift 2
if [ -n "$hosts" ]; then mount --bind "$hosts" /etc/hosts; fi
mount -t tmpfs -o mode=755,size=64k murdertest-dev /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/full c 1 7
mknod -m 666 /dev/random c 1 8
mknod -m 666 /dev/urandom c 1 9
mknod -m 666 /dev/tty c 5 0
mkdir -m 1777 /dev/shm
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
: > /dev/log
mount --bind "$sock" /dev/log
exec "$@"
`

// nsChrootScript is nsScript for an instance in a chroot ($2): the /dev
// and /proc it gets are the chroot's, its /etc/hosts is $3 unless that is
// empty, and "$@" runs chrooted.
const nsChrootScript = `set -e
sock="$1"; root="$2"; hosts="$3"; shift 3
if [ -n "$hosts" ]; then mount --bind "$hosts" "$root/etc/hosts"; fi
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=755,size=64k murdertest-dev "$root/dev"
mknod -m 666 "$root/dev/null" c 1 3
mknod -m 666 "$root/dev/zero" c 1 5
mknod -m 666 "$root/dev/full" c 1 7
mknod -m 666 "$root/dev/random" c 1 8
mknod -m 666 "$root/dev/urandom" c 1 9
mknod -m 666 "$root/dev/tty" c 5 0
mkdir -m 1777 "$root/dev/shm"
ln -s /proc/self/fd "$root/dev/fd"
: > "$root/dev/log"
mount --bind "$sock" "$root/dev/log"
exec chroot "$@"
`

// nsCommand returns a command running argv inside the instance's syslog
// namespace (for a release in a chroot: chrooted, argv[0] as root, or
// "--userspec=UID:GID" first to drop to the release's cyrus user).
func (in *Instance) nsCommand(argv ...string) *exec.Cmd {
	hosts := ""
	if len(in.opts.Hosts) > 0 {
		hosts = filepath.Join(in.Dir, "hosts")
	}
	if in.rel.Root != "" {
		var pre []string
		if len(argv) > 0 && strings.HasPrefix(argv[0], "--userspec=") {
			pre, argv = argv[:1], argv[1:]
		}
		args := append([]string{"-m", "--propagation", "private", "sh", "-c", nsChrootScript, "sh", in.log.path, in.rel.Root, hosts}, pre...)
		args = append(append(args, in.rel.Root), argv...)
		cmd := exec.Command("/usr/bin/unshare", args...)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
		return cmd
	}
	args := append([]string{"-m", "--propagation", "private", "sh", "-c", nsScript, "sh", in.log.path, hosts}, argv...)
	return exec.Command("/usr/bin/unshare", args...)
}

// start starts cyrmaster and waits until the instance greets. A fresh
// instance whose free port was taken in the meantime (cyrmaster logs
// "unable to bind") gets new ports and is tried again, up to three times.
func (in *Instance) start(t testing.TB) {
	t.Helper()
	in.startWith(t, !in.started)
	in.started = true
}

func (in *Instance) startWith(t testing.TB, mayRepick bool) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		err := in.startOnce()
		if err == nil {
			return
		}
		in.Stop()
		if errors.Is(err, errBind) && mayRepick && attempt < 3 {
			in.pickPorts(t)
			in.writeConf(t)
			if in.Role == RoleBackend || in.Role == RoleUnified {
				in.makeSASLDB(t) // users live in the (new) servername's realm
			}
			if err := in.cfg.Chown(in.Dir); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Fatalf("murdertest: %s %s: %v\ncyrmaster stderr:\n%s\nsyslog:\n%s", in.Role, in.Name, err,
			readFile(filepath.Join(in.Dir, "cyrmaster-stderr.log")), in.Log())
	}
}

var errBind = errors.New("a listen port was taken (cyrmaster: unable to bind)")

func (in *Instance) startOnce() error {
	stderr, err := os.OpenFile(filepath.Join(in.Dir, "cyrmaster-stderr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	logStart := len(in.Log())
	// Foreground cyrmaster (no -d), so it stays our child; it drops to the
	// cyrus user itself. -p keeps it away from /var/run/master.pid.
	cmd := in.nsCommand(CyrMaster, "-p", in.cfg.Inside(filepath.Join(in.Dir, "master.pid")), "-C", in.cfg.Inside(in.Conf), "-M", in.cfg.Inside(in.CyrusConf))
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		stderr.Close()
		return fmt.Errorf("start cyrmaster: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); stderr.Close(); close(done) }()
	in.mu.Lock()
	in.cmd, in.done = cmd, done
	in.mu.Unlock()

	var addrs []string
	switch in.Role {
	case RoleMaster:
		addrs = []string{in.MupdateAddr}
	case RoleBackend:
		addrs = []string{in.IMAPAddr}
		if in.SyncAddr != "" {
			addrs = append(addrs, in.SyncAddr)
		}
	case RoleFrontend, RoleUnified:
		// The slave greets only after its first full sync with the master.
		addrs = []string{in.MupdateAddr, in.IMAPAddr}
	}
	bound := func() error {
		if strings.Contains(in.Log()[logStart:], "unable to bind") {
			return errBind
		}
		return nil
	}
	for _, a := range addrs {
		if err := waitBanner(a, StartTimeout, done, bound); err != nil {
			return err
		}
	}
	return nil
}

// pickPorts chooses free ports for the instance's listeners.
func (in *Instance) pickPorts(t testing.TB) {
	switch in.Role {
	case RoleMaster:
		in.MupdateAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		if in.opts.IPv6 {
			in.MupdateAddr = fmt.Sprintf("[::1]:%d", FreePort6(t))
		}
	case RoleBackend:
		in.IMAPAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		if in.opts.IMAPAddr != "" {
			in.IMAPAddr = in.opts.IMAPAddr
		}
		// The servername doubles as the address frontends connect to.
		in.Servername = in.IMAPAddr
		if in.opts.Servername != "" {
			in.Servername = in.opts.Servername
		}
		if in.opts.SyncServer {
			in.SyncAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		}
	case RoleUnified:
		in.IMAPAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		in.MupdateAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		in.Servername = in.IMAPAddr
	case RoleFrontend:
		in.IMAPAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		in.MupdateAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// waitBanner waits until addr accepts a connection and sends a line starting
// "* OK" (IMAP greeting, or the last line of a MUPDATE banner).
func waitBanner(addr string, timeout time.Duration, exited <-chan struct{}, check func() error) error {
	var stopped error
	last := eventually.Wait(timeout, func() error {
		select {
		case <-exited:
			stopped = fmt.Errorf("cyrmaster exited before %s greeted", addr)
		default:
			stopped = check()
		}
		if stopped != nil {
			return eventually.Stop(stopped)
		}
		return cyrustest.Greeted(addr)
	})
	switch {
	case stopped != nil:
		return stopped
	case last != nil:
		return fmt.Errorf("no greeting on %s within %v (last: %v)", addr, timeout, last)
	}
	return nil
}

// take hands the running master's process over to the caller that stops it
// (nil when it is stopped already, or being stopped).
func (in *Instance) take() (*exec.Cmd, chan struct{}) {
	in.mu.Lock()
	defer in.mu.Unlock()
	cmd, done := in.cmd, in.done
	in.cmd = nil
	return cmd, done
}

// Stop stops the instance: SIGTERM to cyrmaster, then SIGKILL to its process
// group after 10 s; it also kills any child left in the group. Safe to call
// twice.
func (in *Instance) Stop() {
	cmd, done := in.take()
	if cmd == nil {
		return
	}
	cyrustest.StopMaster(cmd.Process.Pid, done, 10*time.Second)
}

// Kill stops the instance with SIGKILL to the whole process group (a crash).
func (in *Instance) Kill() {
	cmd, done := in.take()
	if cmd == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Restart stops and starts the instance with its (possibly edited) imapd.conf.
func (in *Instance) Restart(t testing.TB) {
	t.Helper()
	in.Stop()
	in.start(t)
}

// Join points a (standalone) backend or a frontend at a mupdate server and
// restarts it. For a backend it does not push: call CtlMboxlist("-m").
func (in *Instance) Join(t testing.TB, mupdateAddr string) {
	t.Helper()
	in.Stop()
	in.MupdateServer = mupdateAddr
	in.opts.Standalone = false
	in.writeConf(t)
	if err := in.cfg.Chown(in.Conf); err != nil {
		t.Fatal(err)
	}
	in.start(t)
}

// Log returns everything the instance's processes sent to syslog so far.
func (in *Instance) Log() string { return in.log.String() }

// WaitLog waits until the instance's syslog contains sub; false on timeout.
func (in *Instance) WaitLog(sub string, timeout time.Duration) bool { return in.log.wait(sub, timeout) }

// Result is what one tool run printed.
type Result = cyrustest.Result

// Run runs a Cyrus tool (a name under /usr/lib/cyrus/bin) with -C imapd.conf
// and args, as the cyrus user, inside the instance's syslog namespace (so its
// syslog lands in Log()). A non-zero exit is returned, not fatal.
func (in *Instance) Run(t testing.TB, stdin []byte, tool string, args ...string) Result {
	t.Helper()
	var argv []string
	if in.rel.Root != "" {
		ids, err := in.rel.CyrusUserSpec()
		if err != nil {
			t.Fatal(err)
		}
		argv = append([]string{"--userspec=" + ids, filepath.Join(cyrustest.BinDir, tool), "-C", in.cfg.Inside(in.Conf)}, args...)
	} else {
		path := cyrustest.Tool(t, tool)
		argv = append([]string{"/usr/bin/setpriv", "--reuid=cyrus", "--regid=mail", "--init-groups", "--", path, "-C", in.Conf}, args...)
	}
	return cyrustest.RunCmd(t, in.nsCommand(argv...), stdin, tool)
}

// CtlMboxlist runs ctl_mboxlist with args ("-m", "-d", ...) and fails the
// test on a non-zero exit. It returns standard output.
func (in *Instance) CtlMboxlist(t testing.TB, args ...string) []byte {
	t.Helper()
	r := in.Run(t, nil, "ctl_mboxlist", args...)
	if r.ExitCode != 0 {
		t.Fatalf("%s: ctl_mboxlist %s: exit %d\nstdout: %s\nstderr: %s\nsyslog:\n%s", in.Name,
			strings.Join(args, " "), r.ExitCode, r.Stdout, r.Stderr, in.Log())
	}
	return r.Stdout
}
