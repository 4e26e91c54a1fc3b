package convert

import (
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Progress reports how far a pipeline is. Implementations are safe for
// one goroutine; Add may be called for every entry.
type Progress interface {
	// Start announces the total (-1 when unknown) and the phase name.
	Start(phase string, total int64)
	// Add counts n more entries done.
	Add(n int)
	// Done ends the phase.
	Done()
}

// ProgressMode is the --progress setting.
type ProgressMode string

const (
	ProgressAuto ProgressMode = "auto" // a bar when stderr is a terminal, else none
	ProgressBar  ProgressMode = "bar"
	ProgressJSON ProgressMode = "json"
	ProgressNone ProgressMode = "none"
)

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// NewProgress returns the reporter for mode writing to w (stderr).
func NewProgress(mode ProgressMode, w io.Writer) Progress {
	switch mode {
	case ProgressJSON:
		return &jsonProgress{w: w, every: time.Second}
	case ProgressBar:
		return &barProgress{w: w}
	case ProgressAuto:
		if IsTerminal(w) {
			return &barProgress{w: w}
		}
	}
	return noProgress{}
}

type noProgress struct{}

func (noProgress) Start(string, int64) {}
func (noProgress) Add(int)             {}
func (noProgress) Done()               {}

type barProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (p *barProgress) Start(phase string, total int64) {
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(phase),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("entries"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionFullWidth(),
		progressbar.OptionOnCompletion(func() { io.WriteString(p.w, "\n") }),
	)
}

func (p *barProgress) Add(n int) {
	if p.bar != nil {
		p.bar.Add(n)
	}
}

func (p *barProgress) Done() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}

// ProgressLine is one line of --progress json.
type ProgressLine struct {
	Phase      string  `json:"phase"`
	Done       int64   `json:"done"`
	Total      int64   `json:"total"` // -1 when unknown
	PerSecond  float64 `json:"entries_per_second"`
	ETASeconds float64 `json:"eta_seconds"` // -1 when unknown
	Final      bool    `json:"final,omitempty"`
}

type jsonProgress struct {
	mu           sync.Mutex
	w            io.Writer
	every        time.Duration
	phase        string
	total, done  int64
	start, last  time.Time
	lastReported int64
}

func (p *jsonProgress) Start(phase string, total int64) {
	p.phase, p.total, p.done, p.lastReported = phase, total, 0, -1
	p.start = time.Now()
	p.last = p.start
	p.emit(false)
}

func (p *jsonProgress) Add(n int) {
	p.done += int64(n)
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		p.emit(false)
	}
}

func (p *jsonProgress) Done() { p.emit(true) }

func (p *jsonProgress) emit(final bool) {
	el := time.Since(p.start).Seconds()
	l := ProgressLine{Phase: p.phase, Done: p.done, Total: p.total, ETASeconds: -1, Final: final}
	if el > 0 {
		l.PerSecond = float64(p.done) / el
	}
	if p.total >= 0 && l.PerSecond > 0 {
		l.ETASeconds = float64(p.total-p.done) / l.PerSecond
	}
	b, _ := json.Marshal(l)
	p.mu.Lock()
	p.w.Write(append(b, '\n'))
	p.mu.Unlock()
}
