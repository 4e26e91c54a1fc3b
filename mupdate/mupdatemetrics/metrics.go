package mupdatemetrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
)

// Metrics are the MUPDATE metrics of one server.
type Metrics struct {
	reg           prometheus.Registerer
	registryError func(op string)

	commands      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	updateClients prometheus.Gauge
}

// New registers the command metrics on reg. registryError, when set, is
// called with the operation ("lookup", "write", "snapshot", "watch",
// "revision") of every backend call that failed (not a refusal): the
// caller counts registry failures in one place for MUPDATE and HTTP.
func New(reg prometheus.Registerer, registryError func(op string)) *Metrics {
	if registryError == nil {
		registryError = func(string) {}
	}
	m := &Metrics{
		reg:           reg,
		registryError: registryError,
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "murder_bridge_mupdate_commands_total",
			Help: "MUPDATE commands by command and result (ok, no, error; FIND: found, missing, error).",
		}, []string{"command", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "murder_bridge_mupdate_command_duration_seconds",
			Help:    "Time the registry took to answer a MUPDATE command, by command.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"command"}),
		updateClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "murder_bridge_mupdate_update_clients",
			Help: "MUPDATE UPDATE streams open (frontends' mupdate slaves).",
		}),
	}
	reg.MustRegister(m.commands, m.latency, m.updateClients)
	return m
}

// Wrap returns b with every call observed.
func (m *Metrics) Wrap(b mupdate.Backend) mupdate.Backend { return &observed{Backend: b, m: m} }

type observed struct {
	mupdate.Backend
	m *Metrics
}

func (o *observed) done(cmd, result string, start time.Time) {
	o.m.commands.WithLabelValues(cmd, result).Inc()
	o.m.latency.WithLabelValues(cmd).Observe(time.Since(start).Seconds())
}

func (o *observed) Lookup(ctx context.Context, name string) (mupdate.Mailbox, bool, error) {
	start := time.Now()
	mb, ok, err := o.Backend.Lookup(ctx, name)
	switch {
	case err != nil:
		o.m.registryError("lookup")
		o.done("FIND", "error", start)
	case ok:
		o.done("FIND", "found", start)
	default:
		o.done("FIND", "missing", start)
	}
	return mb, ok, err
}

func (o *observed) Write(ctx context.Context, req mupdate.Request) error {
	start := time.Now()
	err := o.Backend.Write(ctx, req)
	var me *mupdate.Error
	switch {
	case err == nil:
		o.done(req.Op.String(), "ok", start)
	case errors.As(err, &me):
		o.done(req.Op.String(), "no", start)
	default:
		o.m.registryError("write")
		o.done(req.Op.String(), "error", start)
	}
	return err
}

func (o *observed) Snapshot(ctx context.Context) (mupdate.Snapshot, error) {
	start := time.Now()
	s, err := o.Backend.Snapshot(ctx)
	if err != nil {
		o.m.registryError("snapshot")
		o.done("SNAPSHOT", "error", start)
		return nil, err
	}
	o.done("SNAPSHOT", "ok", start)
	return s, nil
}

func (o *observed) Watch(ctx context.Context, after int64, fn func(mupdate.Change) error) error {
	o.m.commands.WithLabelValues("UPDATE", "ok").Inc()
	o.m.updateClients.Inc()
	defer o.m.updateClients.Dec()
	var fnErr error
	err := o.Backend.Watch(ctx, after, func(ch mupdate.Change) error {
		fnErr = fn(ch)
		return fnErr
	})
	if err != nil && err != fnErr && ctx.Err() == nil && !errors.Is(err, mupdate.ErrLagged) {
		o.m.registryError("watch")
	}
	return err
}

// Revision is called by the server for a streaming NOOP only.
func (o *observed) Revision(ctx context.Context) (int64, error) {
	start := time.Now()
	r, err := o.Backend.Revision(ctx)
	if err != nil {
		o.m.registryError("revision")
		o.done("NOOP", "error", start)
	} else {
		o.done("NOOP", "ok", start)
	}
	return r, err
}

// ServerStats is what ObserveServer reads at every scrape
// (*mupdateserver.Server).
type ServerStats interface {
	Stats() mupdateserver.Stats
	Conns() int
}

// ObserveServer exports the MUPDATE server's protective actions:
//
//	murder_bridge_mupdate_connections                   open connections
//	murder_bridge_mupdate_awaiting_login                connections not logged in yet
//	murder_bridge_mupdate_connections_refused_total     {reason: per_address, full, evicted, login_timeout}
//	murder_bridge_mupdate_update_bytes                  bytes UPDATE streams hold now
//	murder_bridge_mupdate_update_bytes_peak             the highest that has been
//	murder_bridge_mupdate_update_dropped_total          {reason: stream_bytes, total_bytes, stream_changes, backend}
func (m *Metrics) ObserveServer(s ServerStats) {
	m.reg.MustRegister(&serverCollector{s: s})
}

var (
	descConns = prometheus.NewDesc("murder_bridge_mupdate_connections",
		"MUPDATE connections open.", nil, nil)
	descAwaiting = prometheus.NewDesc("murder_bridge_mupdate_awaiting_login",
		"MUPDATE connections that have not logged in yet.", nil, nil)
	descRefused = prometheus.NewDesc("murder_bridge_mupdate_connections_refused_total",
		"MUPDATE connections refused or closed before login, by reason: per_address (--max-unauth-per-addr), full (--max-conns, every connection logged in), evicted (the oldest not logged in, closed for a newcomer), login_timeout (--login-timeout).",
		[]string{"reason"}, nil)
	descStreamBytes = prometheus.NewDesc("murder_bridge_mupdate_update_bytes",
		"Bytes of changes the UPDATE streams hold now (queued, not yet written to a socket).", nil, nil)
	descStreamPeak = prometheus.NewDesc("murder_bridge_mupdate_update_bytes_peak",
		"The highest murder_bridge_mupdate_update_bytes since start.", nil, nil)
	descDropped = prometheus.NewDesc("murder_bridge_mupdate_update_dropped_total",
		"UPDATE clients dropped for falling behind, by reason: stream_bytes (--update-stream-max-mib), total_bytes (--update-total-max-mib), stream_changes, backend (the registry ended the feed).",
		[]string{"reason"}, nil)
)

type serverCollector struct{ s ServerStats }

func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConns, descAwaiting, descRefused, descStreamBytes, descStreamPeak, descDropped} {
		ch <- d
	}
}

func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(c.s.Conns()))
	ch <- prometheus.MustNewConstMetric(descAwaiting, prometheus.GaugeValue, float64(st.AwaitingLogin))
	for r, n := range st.Refused {
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(n), r)
	}
	ch <- prometheus.MustNewConstMetric(descStreamBytes, prometheus.GaugeValue, float64(st.StreamBytes))
	ch <- prometheus.MustNewConstMetric(descStreamPeak, prometheus.GaugeValue, float64(st.StreamBytesPeak))
	for r, n := range st.StreamsDropped {
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(n), r)
	}
}
