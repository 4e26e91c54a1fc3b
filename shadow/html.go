package shadow

import (
	_ "embed"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"
)

//go:embed report.html.tmpl
var reportTemplate string

var reportTmpl = template.Must(template.New("report").Parse(reportTemplate))

// ReportInfo describes the run for the HTML report's header.
type ReportInfo struct {
	Old, New  string
	Generated time.Time
}

type htmlSide struct {
	Present bool
	Delim   string
	Attrs   string
}

type htmlRow struct {
	Name, Raw string
	Diff      bool
	Kind      string
	Old, New  htmlSide
}

type htmlUser struct {
	User, Status, Error string
	OldCount, NewCount  int
	NDiff               int
	Rows                []htmlRow
	Resumed             bool
}

type htmlData struct {
	Info    ReportInfo
	Summary Summary
	Users   []htmlUser
}

// WriteHTML writes a self-contained HTML report (no external resources):
// the summary, one row per user, and for each differing user the two
// listings side by side with the differing rows marked. A filter by user
// name and status works in the browser and can be preset from the address
// (#status=different&user=bob).
func WriteHTML(w io.Writer, info ReportInfo, sum Summary, results []Result) error {
	d := htmlData{Info: info, Summary: sum}
	for _, r := range results {
		hu := htmlUser{User: r.User, Status: string(r.Status), Error: r.Error, OldCount: r.OldCount, NewCount: r.NewCount, NDiff: len(r.Differences), Resumed: r.Resumed}
		if r.Status == Different {
			hu.Rows = sideBySide(r)
		}
		d.Users = append(d.Users, hu)
	}
	rank := map[string]int{string(Different): 0, string(Failed): 1, string(Equal): 2}
	sort.SliceStable(d.Users, func(i, j int) bool {
		a, b := d.Users[i], d.Users[j]
		if rank[a.Status] != rank[b.Status] {
			return rank[a.Status] < rank[b.Status]
		}
		return a.User < b.User
	})
	return reportTmpl.Execute(w, d)
}

func sideBySide(r Result) []htmlRow {
	kinds := map[string]string{}
	for _, d := range r.Differences {
		kinds[d.Name] = string(d.Kind)
	}
	rows := map[string]*htmlRow{}
	get := func(name string) *htmlRow {
		if rows[name] == nil {
			rows[name] = &htmlRow{Name: humanName(name), Raw: name, Kind: kinds[name], Diff: kinds[name] != ""}
		}
		return rows[name]
	}
	side := func(m Mailbox) htmlSide {
		return htmlSide{Present: true, Delim: m.Delim, Attrs: strings.Join(m.Attrs, " ")}
	}
	// Show what was compared: the attributes each difference carries are
	// already filtered; for the full listings drop the same ones.
	if r.Old != nil {
		for _, m := range r.Old.Mailboxes {
			get(m.Name).Old = side(m)
		}
	}
	if r.New != nil {
		for _, m := range r.New.Mailboxes {
			get(m.Name).New = side(m)
		}
	}
	for _, d := range r.Differences {
		row := get(d.Name)
		if d.Old != nil {
			row.Old = side(*d.Old)
		}
		if d.New != nil {
			row.New = side(*d.New)
		}
	}
	out := make([]htmlRow, 0, len(rows))
	for _, row := range rows {
		out = append(out, *row)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Raw < out[j].Raw })
	return out
}
