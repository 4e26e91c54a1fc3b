package murdertest

import (
	"bytes"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// sink is a syslog receiver: a unixgram socket that one instance's processes
// reach as /dev/log inside their mount namespace.
type sink struct {
	conn *net.UnixConn
	path string

	mu    sync.Mutex
	buf   bytes.Buffer
	file  *os.File
	notif chan struct{} // closed and replaced on every message
}

func newSink(sockPath, logPath string) (*sink, error) {
	os.Remove(sockPath)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(sockPath, 0o666); err != nil {
		c.Close()
		return nil, err
	}
	f, err := os.Create(logPath)
	if err != nil {
		c.Close()
		return nil, err
	}
	s := &sink{conn: c, path: sockPath, file: f, notif: make(chan struct{})}
	go s.loop()
	return s, nil
}

func (s *sink) loop() {
	b := make([]byte, 64<<10)
	for {
		n, _, err := s.conn.ReadFromUnix(b)
		if err != nil {
			return
		}
		msg := strings.TrimRight(string(b[:n]), "\x00\r\n ")
		// strip the "<PRI>" glibc puts first
		if strings.HasPrefix(msg, "<") {
			if i := strings.IndexByte(msg, '>'); i > 0 && i < 5 {
				msg = msg[i+1:]
			}
		}
		line := time.Now().Format("15:04:05.000 ") + msg + "\n"
		s.mu.Lock()
		s.buf.WriteString(line)
		s.file.WriteString(line)
		close(s.notif)
		s.notif = make(chan struct{})
		s.mu.Unlock()
	}
}

func (s *sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// wait blocks until the log contains sub or the timeout passes.
func (s *sink) wait(sub string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		found := strings.Contains(s.buf.String(), sub)
		ch := s.notif
		s.mu.Unlock()
		if found {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

func (s *sink) close() {
	s.conn.Close()
	s.mu.Lock()
	s.file.Close()
	s.mu.Unlock()
	os.Remove(s.path)
}
