package shadow

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// WriteResult writes r as one JSON line.
func WriteResult(w io.Writer, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ReadResults reads JSON lines written by WriteResult (a --json or --resume
// file). A later line for the same user wins. A torn last line (the
// program was killed while writing it) is ignored; any other bad line is an
// error naming its line number.
func ReadResults(r io.Reader) (map[string]Result, error) {
	out := map[string]Result{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	var pendingErr error
	for sc.Scan() {
		line++
		if pendingErr != nil {
			return nil, pendingErr
		}
		if len(sc.Bytes()) == 0 {
			continue
		}
		var res Result
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil || res.User == "" {
			pendingErr = fmt.Errorf("shadow: results line %d: not a result (%v)", line, err)
			continue
		}
		out[res.User] = res
	}
	return out, sc.Err()
}

// WriteSummary prints the closing summary for people.
func WriteSummary(w io.Writer, s Summary) {
	fmt.Fprintf(w, "shadow: %d users: %d compared, %d equal, %d different, %d errors", s.Users, s.Compared, s.Equal, s.Different, s.Errors)
	if s.Resumed > 0 {
		fmt.Fprintf(w, " (%d taken from the resume file)", s.Resumed)
	}
	fmt.Fprintf(w, " in %.1fs\n", s.Elapsed.Seconds())
}

// WriteDifferences prints one line per difference (or error) of r on w:
// "USER: only-old \"NAME\" ...". Nothing for an equal user.
func WriteDifferences(w io.Writer, r Result) {
	switch r.Status {
	case Different:
		for _, d := range r.Differences {
			fmt.Fprintf(w, "%s: %s\n", r.User, d)
		}
	case Failed:
		fmt.Fprintf(w, "%s: error %s\n", r.User, r.Error)
	}
}
