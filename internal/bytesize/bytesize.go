package bytesize

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

var units = []struct {
	suffix string
	mult   int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// Parse reads a size such as "600MiB": a non-negative whole number with an
// optional suffix B, KiB, MiB, GiB or TiB. A size that does not fit in an
// int64 is an error, as is anything else (decimals, spaces, SI units such
// as "MB").
func Parse(s string) (int64, error) {
	num, mult := s, int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	if num == "" || num[0] < '0' || num[0] > '9' {
		return 0, fmt.Errorf("size %q: want a whole number of bytes with an optional B, KiB, MiB, GiB or TiB, such as 600MiB", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: want a whole number of bytes with an optional B, KiB, MiB, GiB or TiB, such as 600MiB", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n * mult, nil
}

// Format writes n in the largest unit that divides it ("600MiB", "0").
func Format(n int64) string {
	if n == 0 {
		return "0"
	}
	for _, u := range units {
		if n%u.mult == 0 {
			if u.mult == 1 {
				return strconv.FormatInt(n, 10)
			}
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
