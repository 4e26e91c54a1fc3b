package mboxlist

import "fmt"

// Version is a Cyrus release family as far as mailboxes.db is concerned.
type Version int

const (
	VersionUnknown Version = iota
	V24                    // 2.0–2.4: `type partition acl`, keys are internal names
	V25                    // 2.5: dlist values A I P S T V M
	V30                    // 3.0: + F, T letter b, $RACL (l rights)
	V32                    // 3.2: + C, T letters i s p, $RACL (any rights)
	V34                    // 3.3–3.4: $RACL value 2 (r rights), $RUNQ
	V36                    // 3.5–3.6: N/I/A keys, dbnames
	V310                   // 3.7–3.10: as 3.6, + type letter j (JMAP notifications)
	V312                   // 3.11–3.12: as 3.10, but 0x1F is no atom character: dbnames in I records are quoted strings
)

var versionNames = map[Version]string{V24: "2.4", V25: "2.5", V30: "3.0", V32: "3.2", V34: "3.4", V36: "3.6", V310: "3.10", V312: "3.12"}

// Versions lists every known version, oldest first.
var Versions = []Version{V24, V25, V30, V32, V34, V36, V310, V312}

func (v Version) String() string {
	if s, ok := versionNames[v]; ok {
		return s
	}
	return fmt.Sprintf("Version(%d)", int(v))
}

// ParseVersion reads "2.4", "2.5", "3.0", "3.2", "3.4", "3.6", "3.10" or
// "3.12". Releases that share a format map to their family: 2.0–2.3 to 2.4,
// 3.1 to 3.0, 3.3 to 3.4, 3.5 to 3.6, 3.7–3.9 to 3.10, 3.11 to 3.12.
func ParseVersion(s string) (Version, error) {
	switch s {
	case "2.0", "2.1", "2.2", "2.3", "2.4":
		return V24, nil
	case "2.5":
		return V25, nil
	case "3.0", "3.1":
		return V30, nil
	case "3.2":
		return V32, nil
	case "3.3", "3.4":
		return V34, nil
	case "3.5", "3.6":
		return V36, nil
	case "3.7", "3.8", "3.9", "3.10":
		return V310, nil
	case "3.11", "3.12":
		return V312, nil
	}
	return VersionUnknown, fmt.Errorf("%w Cyrus version %q (want 2.4, 2.5, 3.0, 3.2, 3.4, 3.6, 3.10 or 3.12)", ErrUnknown, s)
}

// ByID reports whether the version keys mailboxes by dbname and uniqueid
// (`N`/`I` keys, 3.6 and later) rather than by internal name.
func (v Version) ByID() bool { return v >= V36 }

// Dlist reports whether the version writes dlist values (2.5 and later).
func (v Version) Dlist() bool { return v >= V25 }

// QuotesUS reports whether the version prints a string holding 0x1F (the
// dbname hierarchy separator) as a quoted string rather than a bare atom:
// Cyrus 3.12's imparse_isnatom counts 0x1F as a control character, so the
// name in an I record is `N "user\x1Fjohn.doe"` where 3.6–3.10 write
// `N user\x1Fjohn.doe`.
func (v Version) QuotesUS() bool { return v >= V312 }
