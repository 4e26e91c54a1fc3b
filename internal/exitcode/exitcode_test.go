package exitcode

import (
	"errors"
	"strings"
	"testing"
)

// TestFinal: an error while interrupted is Interrupted (a usage error stays
// one); without an interruption the error's own code.
func TestFinal(t *testing.T) {
	net := With(Network, errors.New("x"))
	for _, c := range []struct {
		interrupted bool
		err         error
		want        int
	}{
		{false, nil, OK}, {true, nil, OK},
		{false, net, Network}, {true, net, Interrupted},
		{true, errors.New("context canceled"), Interrupted},
		{true, With(Usage, errors.New("bad flag")), Usage},
	} {
		if got := Final(c.interrupted, c.err); got != c.want {
			t.Errorf("Final(%v, %v) = %d, want %d", c.interrupted, c.err, got, c.want)
		}
	}
}

// TestHelpNamesEveryCode: the EXIT STATUS text documents each code.
func TestHelpNamesEveryCode(t *testing.T) {
	for _, c := range []string{"  0  ", "  1  ", "  2  ", "  3  ", "  4  ", "  5  ", "  6  ", "  7  ", "  8  ", "  9  ", " 10  ", "130  "} {
		if !strings.Contains(Help, "\n"+c) && !strings.HasPrefix(strings.SplitN(Help, "\n", 2)[1], c) {
			t.Errorf("Help does not document exit status %q", strings.TrimSpace(c))
		}
	}
}
