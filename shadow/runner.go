package shadow

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Status is the outcome for one user.
type Status string

const (
	Equal     Status = "equal"
	Different Status = "different"
	Failed    Status = "error"
)

// Result is the outcome for one user: one JSON line of --json.
type Result struct {
	User        string       `json:"user"`
	Status      Status       `json:"status"`
	Differences []Difference `json:"differences,omitempty"`
	Error       string       `json:"error,omitempty"`
	OldCount    int          `json:"old_count"`
	NewCount    int          `json:"new_count"`
	// Old and New are the full listings, kept for differing users only
	// (the HTML report shows them side by side).
	Old      *Listing  `json:"old,omitempty"`
	New      *Listing  `json:"new,omitempty"`
	Attempts int       `json:"attempts"`
	Millis   int64     `json:"elapsed_ms"`
	Time     time.Time `json:"time"`
	// Resumed marks a result taken from the resume file, not re-run.
	Resumed bool `json:"-"`
}

// Summary counts the outcomes.
type Summary struct {
	Users     int           `json:"users"`
	Compared  int           `json:"compared"`
	Equal     int           `json:"equal"`
	Different int           `json:"different"`
	Errors    int           `json:"errors"`
	Resumed   int           `json:"resumed"`
	Elapsed   time.Duration `json:"elapsed_ns"`
}

// Add counts one result.
func (s *Summary) Add(r Result) {
	s.Users++
	if r.Resumed {
		s.Resumed++
	}
	switch r.Status {
	case Equal:
		s.Compared++
		s.Equal++
	case Different:
		s.Compared++
		s.Different++
	default:
		s.Errors++
	}
}

// Runner compares many users with bounded concurrency and rate.
type Runner struct {
	Old, New Source
	// Concurrency is how many users are compared at once (default 4).
	Concurrency int
	// Rate caps users started per second over both sides (0: no cap).
	Rate float64
	// Timeout bounds one attempt for one user, both sides (default 60s).
	Timeout time.Duration
	// Retries is how many times a failed attempt is retried (network
	// errors only: a NO from the server is final). Backoff starts at
	// RetryBackoff (default 500ms) and doubles.
	Retries      int
	RetryBackoff time.Duration
	Compare      CompareOptions
	// Previous results (from a resume file): users whose previous status
	// is equal or different are not compared again, their result is
	// reported as Resumed.
	Previous map[string]Result
	// OnResult is called once per user, from one goroutine at a time.
	OnResult func(Result)
}

// Run compares every user and returns the summary. It returns early with
// ctx's error when ctx ends (results so far have been reported).
func (r *Runner) Run(ctx context.Context, users []User) (Summary, error) {
	start := time.Now()
	var sum Summary
	n := r.Concurrency
	if n <= 0 {
		n = 4
	}
	lim := newLimiter(r.Rate)
	jobs := make(chan User)
	results := make(chan Result)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range jobs {
				results <- r.one(ctx, u)
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, u := range users {
			if p, ok := r.Previous[u.Name]; ok && p.Status != Failed {
				p.Resumed = true
				results <- p
				continue
			}
			if err := lim.wait(ctx); err != nil {
				return
			}
			select {
			case jobs <- u:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	// The feeder sends resumed results itself, always before it closes
	// jobs, hence before the workers end and results is closed.
	for res := range results {
		sum.Add(res)
		if r.OnResult != nil {
			r.OnResult(res)
		}
	}
	sum.Elapsed = time.Since(start)
	return sum, ctx.Err()
}

func (r *Runner) one(ctx context.Context, u User) Result {
	res := Result{User: u.Name, Time: time.Now().UTC()}
	start := time.Now()
	backoff := r.RetryBackoff
	if backoff <= 0 {
		backoff = 500 * time.Millisecond
	}
	for attempt := 0; ; attempt++ {
		res.Attempts = attempt + 1
		old, nw, err := r.lists(ctx, u)
		if err == nil {
			res.OldCount, res.NewCount = len(old.Mailboxes), len(nw.Mailboxes)
			old, nw = Prepare(old, nw, r.Compare)
			res.Differences = diffPrepared(old, nw)
			res.Status, res.Error = Equal, ""
			if len(res.Differences) > 0 {
				res.Status, res.Old, res.New = Different, old, nw
			}
			break
		}
		res.Status, res.Error = Failed, err.Error()
		if attempt >= r.Retries || !retryable(err) || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff *= 2
	}
	res.Millis = time.Since(start).Milliseconds()
	return res
}

func (r *Runner) lists(ctx context.Context, u User) (old, nw *Listing, err error) {
	t := r.Timeout
	if t <= 0 {
		t = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	old, err = r.Old.List(ctx, u)
	if err != nil {
		return nil, nil, fmt.Errorf("old side: %w", err)
	}
	if ns, ok := r.New.(NamespacedSource); ok {
		nw, err = ns.ListIn(ctx, u, old.Namespace)
	} else {
		nw, err = r.New.List(ctx, u)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("new side: %w", err)
	}
	return old, nw, nil
}

// retryable is false for answers that another try cannot change: a tagged
// NO/BAD from the server (wrong password, no such user) and a session that
// does not show the user's own view.
func retryable(err error) bool {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return false
	}
	return !errors.Is(err, ErrNotOwnView) && !errors.Is(err, errNoNamespace)
}

type limiter struct {
	mu    sync.Mutex
	next  time.Time
	every time.Duration
}

func newLimiter(rate float64) *limiter {
	if rate <= 0 {
		return &limiter{}
	}
	return &limiter{every: time.Duration(float64(time.Second) / rate)}
}

func (l *limiter) wait(ctx context.Context) error {
	if l.every == 0 {
		return ctx.Err()
	}
	l.mu.Lock()
	now := time.Now()
	t := l.next
	if t.Before(now) {
		t = now
	}
	l.next = t.Add(l.every)
	l.mu.Unlock()
	if d := time.Until(t); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
