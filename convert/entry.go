package convert

import (
	"fmt"

	"github.com/murderkit/murderkit/mboxlist"
)

// ConvertEntry converts e from the values of Cyrus version from to those of
// version to (mboxlist.Convert) and says, one line each, what the target
// cannot hold, each line starting with the entry's name. An entry whose
// type the target has no number or letter for cannot be written at all:
// keep is false and the last line says it is left out. mboxconv convert
// and export (ExportPipeline) both convert their entries so, and print the
// lines as "loss:" lines.
func ConvertEntry(from, to mboxlist.Version, e *mboxlist.Entry) (ce mboxlist.Entry, lost []string, keep bool) {
	ce, losses := mboxlist.Convert(from, to, e)
	drop := false
	for _, l := range losses {
		lost = append(lost, fmt.Sprintf("%s: %s", e.Name, l))
		drop = drop || l.Field == "mbtype"
	}
	if drop {
		lost = append(lost, fmt.Sprintf("%s: left out: Cyrus %s cannot store its type", e.Name, to))
		return ce, lost, false
	}
	return ce, lost, true
}
