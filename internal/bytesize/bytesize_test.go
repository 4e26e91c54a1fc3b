package bytesize

import "testing"

func TestParse(t *testing.T) {
	for s, want := range map[string]int64{
		"0": 0, "600MiB": 600 << 20, "2GiB": 2 << 30, "1TiB": 1 << 40, "512KiB": 512 << 10,
		"4096B": 4096, "629145600": 629145600, "8191TiB": 8191 << 40,
	} {
		got, err := Parse(s)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", s, got, err, want)
		}
		if err == nil && want != 0 {
			if back, err := Parse(Format(got)); err != nil || back != got {
				t.Errorf("Parse(Format(%d)) = %d, %v", got, back, err)
			}
		}
	}
	for _, s := range []string{"", "MiB", "-1", "-600MiB", "+600MiB", "1.5GiB", "600 MiB", "600MB", "600mib", "lots", "8388608TiB", "99999999999999999999"} {
		if n, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %d, want an error", s, n)
		}
	}
	if f := Format(600 << 20); f != "600MiB" {
		t.Errorf("Format(600MiB) = %q", f)
	}
	if f := Format(1000); f != "1000" {
		t.Errorf("Format(1000) = %q", f)
	}
}
