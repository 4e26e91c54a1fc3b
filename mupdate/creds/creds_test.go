package creds_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/xdg-go/scram"

	"github.com/murderkit/murderkit/mupdate/creds"
)

func TestParseErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"nocolon\n", "line 1: want name:secret"},
		{"# c\n\na:{MD5}x\n", "line 3: unknown scheme {MD5}"},
		{"a:{SCRAM-SHA-256}x$1$y\n", "line 1: SCRAM-SHA-256: want SALT$ITER$STOREDKEY$SERVERKEY"},
		{"a:pw\na:pw2\n", "line 2: second plain password"},
	} {
		_, err := creds.Parse(strings.NewReader(tc.in))
		var se *creds.SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Parse(%q) = %v, want %q", tc.in, err, tc.msg)
		}
		if err != nil && strings.Contains(err.Error(), "pw2") {
			t.Errorf("error leaks a secret: %v", err)
		}
	}
}

func TestPlainAndSCRAM(t *testing.T) {
	h512, _ := creds.Hash(creds.SCRAMSHA512, "hashed pw", 0)
	st, err := creds.Parse(strings.NewReader("plain:pa:ss\nexplicit:{PLAIN}{braces}\nhashed:" + h512 + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, pw string
		ok       bool
	}{
		{"plain", "pa:ss", true}, {"explicit", "{braces}", true}, {"hashed", "hashed pw", true},
		{"hashed", "hashed pw2", false}, {"plain", "x", false}, {"nobody", "", false},
	} {
		if got := st.VerifyPlain(tc.user, tc.pw); got != tc.ok {
			t.Errorf("VerifyPlain(%s, %q) = %v", tc.user, tc.pw, got)
		}
	}
	// The stored keys are what a SCRAM client derives from the password.
	for _, user := range []string{"plain", "hashed"} {
		pw := map[string]string{"plain": "pa:ss", "hashed": "hashed pw"}[user]
		sc, err := st.SCRAM(creds.SCRAMSHA512, user)
		if err != nil {
			t.Fatal(err)
		}
		cl, _ := scram.SHA512.NewClient(user, pw, "")
		if got := cl.GetStoredCredentials(sc.KeyFactors); string(got.StoredKey) != string(sc.StoredKey) || string(got.ServerKey) != string(sc.ServerKey) {
			t.Errorf("%s: stored keys differ from the client's derivation", user)
		}
	}
	if _, err := st.SCRAM(creds.SCRAMSHA256, "hashed"); !errors.Is(err, creds.ErrNoCredentials) {
		t.Errorf("SCRAM-SHA-256 from a SHA-512 hash: %v", err)
	}
	if got := st.CommonMechanisms(); !slices.Equal(got, []string{creds.SCRAMSHA512}) {
		t.Errorf("CommonMechanisms = %q", got)
	}
}
