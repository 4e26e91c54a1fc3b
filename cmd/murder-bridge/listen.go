package main

// The MUPDATE listener handed over by a service manager instead of bound
// by murder-bridge itself: Cyrus's master (cyrmaster) or systemd socket
// activation. docs/operations.md ("A drop-in for the mupdate master") says
// how to configure each; the facts below were read from Cyrus 3.6.1's
// master/master.c, master/service.h and master/service-thread.c.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
)

const (
	// listenCyrus and listenSystemd are the --listen values that take the
	// listener from the service manager.
	listenCyrus   = "cyrus"
	listenSystemd = "systemd"

	// cyrmaster hands a service its listening socket as fd 4 and the
	// write end of its status pipe as fd 3, and sets CYRUS_SERVICE.
	cyrusStatusFD = 3
	cyrusListenFD = 4
	// A multi-connection ("threaded") service such as `mupdate -m` tells
	// the master about each accepted connection with this message and
	// stays READY: the master starts no second process while it runs.
	cyrusConnectionMulti = 0x04

	// systemd's first passed descriptor (SD_LISTEN_FDS_START).
	systemdFirstFD = 3
)

// listenSource says where the MUPDATE listener comes from: "" (bind
// --listen), listenCyrus or listenSystemd: --listen names one, or the
// environment does: CYRUS_SERVICE (run by cyrmaster from a SERVICES entry)
// or LISTEN_PID/LISTEN_FDS naming this process (systemd). A socket the
// service manager passed wins over a --listen address (bridge.conf's
// listen: line stays valid when a .socket unit is added): serve logs that
// the address is not used.
func listenSource(listen string, getenv func(string) string, pid int) string {
	switch listen {
	case listenCyrus, listenSystemd:
		return listen
	}
	if getenv("CYRUS_SERVICE") != "" {
		return listenCyrus
	}
	if getenv("LISTEN_PID") == strconv.Itoa(pid) && getenv("LISTEN_FDS") != "" {
		return listenSystemd
	}
	return ""
}

// inheritedListener returns the listener of source (listenCyrus or
// listenSystemd). Under cyrmaster every accepted connection is reported on
// the status pipe as Cyrus's own threaded services do.
func inheritedListener(source string) (net.Listener, error) {
	switch source {
	case listenCyrus:
		ln, err := fileListener(cyrusListenFD, "cyrmaster listener")
		if err != nil {
			return nil, fmt.Errorf("--listen cyrus: fd %d is not the listening socket cyrmaster passes to a SERVICES entry (%w); run murder-bridge from cyrus.conf's SERVICES with listen=..., or give --listen ADDR", cyrusListenFD, err)
		}
		return &cyrusListener{Listener: ln, status: os.NewFile(cyrusStatusFD, "cyrmaster status pipe"), pid: int32(os.Getpid())}, nil
	case listenSystemd:
		if p := os.Getenv("LISTEN_PID"); p != strconv.Itoa(os.Getpid()) {
			return nil, fmt.Errorf("--listen systemd: LISTEN_PID is %q, not this process (%d): start murder-bridge from a systemd .socket unit", p, os.Getpid())
		}
		n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--listen systemd: LISTEN_FDS is %q: systemd passed no socket", os.Getenv("LISTEN_FDS"))
		}
		if n > 1 {
			return nil, fmt.Errorf("--listen systemd: systemd passed %d sockets; the .socket unit must have exactly one ListenStream= (MUPDATE)", n)
		}
		ln, err := fileListener(systemdFirstFD, "systemd socket")
		if err != nil {
			return nil, fmt.Errorf("--listen systemd: fd %d: %w", systemdFirstFD, err)
		}
		// not for our children
		os.Unsetenv("LISTEN_PID")
		os.Unsetenv("LISTEN_FDS")
		os.Unsetenv("LISTEN_FDNAMES")
		return ln, nil
	}
	return nil, fmt.Errorf("unknown listener source %q", source)
}

// fileListener makes a net.Listener of inherited descriptor fd (a
// listening TCP socket) and closes fd (the listener holds a duplicate).
func fileListener(fd int, name string) (net.Listener, error) {
	f := os.NewFile(uintptr(fd), name)
	if f == nil {
		return nil, errors.New("not open")
	}
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	return ln, nil
}

// cyrusListener reports each accepted connection to cyrmaster, as Cyrus's
// threaded services (mupdate -m) do: message CONNECTION_MULTI and the pid,
// two native-endian ints on the status pipe.
type cyrusListener struct {
	net.Listener
	status *os.File
	pid    int32
	once   sync.Once
}

func (l *cyrusListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil && l.status != nil {
		var msg [8]byte
		binary.NativeEndian.PutUint32(msg[0:], cyrusConnectionMulti)
		binary.NativeEndian.PutUint32(msg[4:], uint32(l.pid))
		if _, werr := l.status.Write(msg[:]); werr != nil {
			l.once.Do(func() { l.status = nil }) // the master went away; serve on
		}
	}
	return c, err
}
