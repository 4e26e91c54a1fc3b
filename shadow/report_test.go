package shadow_test

import (
	"strings"
	"testing"

	"github.com/murderkit/murderkit/shadow"
)

func TestReadResults(t *testing.T) {
	in := `{"user":"a","status":"equal"}
{"user":"b","status":"error","error":"x"}
{"user":"b","status":"different"}
{"user":"c","sta`
	got, err := shadow.ReadResults(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["b"].Status != shadow.Different {
		t.Errorf("ReadResults = %v", got)
	}
	if _, err := shadow.ReadResults(strings.NewReader("garbage\n{\"user\":\"a\"}\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("ReadResults(bad middle line) err = %v", err)
	}
}
