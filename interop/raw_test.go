package interop

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"time"
)

// rawSession speaks MUPDATE byte by byte, independent of our own codec, so
// the tests can compare what two servers put on the wire: it logs in with
// SASL PLAIN as Cyrus clients do, sends each command, and returns every
// line the server answered to it (tagged lines and literal lines, CRLF
// stripped) up to and including the command's tagged OK/NO/BAD.
func rawSession(addr, user, password string, cmds ...string) ([][]string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("banner: %w", err)
		}
		if strings.HasPrefix(l, "* OK") {
			break
		}
	}
	resp := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	fmt.Fprintf(c, "A01 AUTHENTICATE \"PLAIN\" {%d+}\r\n%s\r\n", len(resp), resp)
	l, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(l, "A01 OK") {
		return nil, fmt.Errorf("authenticate: %q %v", l, err)
	}
	var out [][]string
	for i, cmd := range cmds {
		tag := fmt.Sprintf("T%d", i)
		fmt.Fprintf(c, "%s %s\r\n", tag, cmd)
		var lines []string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return out, fmt.Errorf("%s %s: %w (after %q)", tag, cmd, err, lines)
			}
			l = strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
			lines = append(lines, l)
			if strings.HasPrefix(l, tag+" OK ") || strings.HasPrefix(l, tag+" NO ") || strings.HasPrefix(l, tag+" BAD ") {
				break
			}
		}
		out = append(out, lines)
	}
	fmt.Fprintf(c, "Q01 LOGOUT\r\n")
	return out, nil
}
