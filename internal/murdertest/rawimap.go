package murdertest

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// RawIMAP logs in with LOGIN and sends commands go-imap has no API for
// (XFER, MUPDATEPUSH, RLIST, ...), one at a time. It returns, per command,
// every line up to and including the tagged status, and an error when a
// status is not OK.
func RawIMAP(addr, user, password string, cmds ...string) ([][]string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	r := bufio.NewReader(c)
	if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK") {
		return nil, fmt.Errorf("imap greeting %q: %v", l, err)
	}
	run := func(tag, cmd string) ([]string, error) {
		if _, err := fmt.Fprintf(c, "%s %s\r\n", tag, cmd); err != nil {
			return nil, err
		}
		var lines []string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return lines, fmt.Errorf("%s %s: %w", tag, cmd, err)
			}
			l = strings.TrimRight(l, "\r\n")
			lines = append(lines, l)
			if strings.HasPrefix(l, tag+" ") {
				if !strings.HasPrefix(l, tag+" OK") {
					return lines, fmt.Errorf("%s: %s", cmd, l)
				}
				return lines, nil
			}
		}
	}
	if _, err := run("L0", "LOGIN "+strconv.Quote(user)+" "+strconv.Quote(password)); err != nil {
		return nil, err
	}
	var out [][]string
	for i, cmd := range cmds {
		lines, err := run(fmt.Sprintf("R%d", i), cmd)
		out = append(out, lines)
		if err != nil {
			return out, err
		}
	}
	run("L1", "LOGOUT")
	return out, nil
}
