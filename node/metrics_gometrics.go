package node

import (
	"slices"
	"strings"
	"sync"
	"time"

	gometrics "github.com/armon/go-metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// The bridge from go-metrics to each node's Prometheus registry.
//
// hashicorp/raft v1.7.3, raft-boltdb and memberlist v0.6.0 report through
// go-metrics's package-level functions (raft and memberlist through
// go-metrics/compat, which, built without the hashicorpmetrics tag, forwards
// to armon/go-metrics). go-metrics has ONE sink per process, and what raft
// emits carries nothing that says which raft instance emitted it. So the
// process gets one sink, gometricsRoute, installed when the first node
// starts, and each running node attaches its own gometricsSink, collected by
// its own registry:
//
//   - one node in the process (every real deployment, and node/nodetest,
//     which runs one process per node): that node gets every series;
//   - several nodes in one process (the node package's tests): a series
//     cannot be attributed, so it goes to none of them. A node's /metrics
//     never shows another node's numbers; the per-node raft series of
//     stateCollector (term, indexes, last contact) still appear.
//
// gometricsOnce and gometricsRoute are package-level mutable state for that
// reason, and only for it.
var (
	gometricsOnce  sync.Once
	gometricsRoute = &gometricsRouter{}
)

// attachGometrics makes s receive the process's go-metrics (see above) until
// the returned detach is called.
func attachGometrics(s *gometricsSink) (detach func()) {
	gometricsOnce.Do(func() {
		cfg := gometrics.DefaultConfig("")
		cfg.EnableHostname = false       // Prometheus labels the instance itself
		cfg.EnableRuntimeMetrics = false // the registry's Go collector has them
		cfg.EnableTypePrefix = true      // the only way a sink tells a timer from a sample
		cfg.TimerGranularity = time.Second
		// New never fails (the error is for API symmetry).
		_, _ = gometrics.NewGlobal(cfg, gometricsRoute)
	})
	r := gometricsRoute
	r.mu.Lock()
	r.sinks = append(r.sinks, s)
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.sinks = slices.DeleteFunc(r.sinks, func(x *gometricsSink) bool { return x == s })
	}
}

// gometricsRouter is the process's go-metrics sink: it hands every series to
// the only attached node, or drops it when there are several (or none).
type gometricsRouter struct {
	mu    sync.RWMutex
	sinks []*gometricsSink
}

var _ gometrics.MetricSink = (*gometricsRouter)(nil)

func (r *gometricsRouter) target() *gometricsSink {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.sinks) == 1 {
		return r.sinks[0]
	}
	return nil
}

func (r *gometricsRouter) record(key []string, val float32, labels []gometrics.Label) {
	if s := r.target(); s != nil {
		s.record(key, float64(val), labels)
	}
}

func (r *gometricsRouter) SetGauge(key []string, val float32) { r.record(key, val, nil) }
func (r *gometricsRouter) SetGaugeWithLabels(key []string, val float32, labels []gometrics.Label) {
	r.record(key, val, labels)
}
func (r *gometricsRouter) EmitKey(key []string, val float32)     { r.record(key, val, nil) }
func (r *gometricsRouter) IncrCounter(key []string, val float32) { r.record(key, val, nil) }
func (r *gometricsRouter) IncrCounterWithLabels(key []string, val float32, labels []gometrics.Label) {
	r.record(key, val, labels)
}
func (r *gometricsRouter) AddSample(key []string, val float32) { r.record(key, val, nil) }
func (r *gometricsRouter) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	r.record(key, val, labels)
}

// gometricsMaxSeries bounds one node's bridged series: go-metrics keys may
// carry peer ids, and a long-lived leader sees many peers come and go.
const gometricsMaxSeries = 2048

var (
	// timerBuckets are for go-metrics timers, in seconds (TimerGranularity).
	timerBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	// sampleBuckets are for other samples: sizes, counts, raft's last
	// contact in milliseconds.
	sampleBuckets = []float64{0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}
)

type gmKind uint8

const (
	gmCounter gmKind = iota
	gmGauge
	gmHistogram
)

// gmFamily is what a Prometheus name was first recorded as; a later series
// of another kind under the same name is dropped (a registry refuses a name
// with two types or two help texts).
type gmFamily struct {
	kind    gmKind
	help    string
	buckets []float64
}

type gmSeries struct {
	name   string
	labels []gometrics.Label // sorted by name, names sanitized
	value  float64           // a counter's total, a gauge's value
	count  uint64
	sum    float64
	counts []uint64 // per bucket, not cumulative
}

// gometricsSink keeps one node's go-metrics series and is a
// prometheus.Collector of them. Counters become NAME_total, timers
// NAME_seconds histograms, other samples histograms and gauges gauges, all
// named clusterd_ + the go-metrics key joined by "_" (raft.commitTime:
// clusterd_raft_commitTime_seconds). Gauges keep their last value.
type gometricsSink struct {
	mu       sync.Mutex
	families map[string]*gmFamily
	series   map[string]*gmSeries
	dropped  uint64
	droppedD *prometheus.Desc
}

func newGometricsSink() *gometricsSink {
	return &gometricsSink{families: map[string]*gmFamily{}, series: map[string]*gmSeries{},
		droppedD: prometheus.NewDesc("clusterd_gometrics_series_dropped_total",
			"go-metrics series (raft, memberlist) not exported: over the limit of series, or a name already used by another kind.", nil, nil)}
}

// record takes one go-metrics emission; key starts with the type prefix
// go-metrics adds (EnableTypePrefix).
func (s *gometricsSink) record(key []string, val float64, labels []gometrics.Label) {
	if len(key) < 2 {
		return
	}
	fam := gmFamily{}
	suffix := ""
	switch key[0] {
	case "counter":
		fam.kind, suffix = gmCounter, "_total"
	case "gauge":
		fam.kind = gmGauge
	case "timer":
		fam.kind, suffix, fam.buckets = gmHistogram, "_seconds", timerBuckets
	case "sample":
		fam.kind, fam.buckets = gmHistogram, sampleBuckets
	default: // "kv" (EmitKey) has no Prometheus counterpart
		return
	}
	dotted := strings.Join(key[1:], ".")
	name := "clusterd_" + sanitizeMetricName(strings.Join(key[1:], "_")) + suffix
	fam.help = "Bridged from go-metrics: " + key[0] + " " + dotted + "."
	if key[0] == "timer" {
		fam.help = "Bridged from go-metrics: timer " + dotted + ", in seconds."
	}
	ls := make([]gometrics.Label, 0, len(labels))
	for _, l := range labels {
		n := sanitizeLabelName(l.Name)
		if fam.kind == gmHistogram && n == "le" {
			n = "le_"
		}
		ls = append(ls, gometrics.Label{Name: n, Value: l.Value})
	}
	slices.SortStableFunc(ls, func(a, b gometrics.Label) int { return strings.Compare(a.Name, b.Name) })
	ls = slices.CompactFunc(ls, func(a, b gometrics.Label) bool { return a.Name == b.Name })
	var id strings.Builder
	id.WriteString(name)
	for _, l := range ls {
		id.WriteString("\xff" + l.Name + "\xfe" + l.Value)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.families[name]
	if !ok {
		f = &fam
		s.families[name] = f
	} else if f.kind != fam.kind || !slices.Equal(f.buckets, fam.buckets) {
		s.dropped++
		return
	}
	sr := s.series[id.String()]
	if sr == nil {
		if len(s.series) >= gometricsMaxSeries {
			s.dropped++
			return
		}
		sr = &gmSeries{name: name, labels: ls}
		if f.kind == gmHistogram {
			sr.counts = make([]uint64, len(f.buckets))
		}
		s.series[id.String()] = sr
	}
	switch f.kind {
	case gmCounter:
		sr.value += val
	case gmGauge:
		sr.value = val
	case gmHistogram:
		sr.count++
		sr.sum += val
		if i, _ := slices.BinarySearch(f.buckets, val); i < len(f.buckets) {
			sr.counts[i]++ // le: the first bound >= val
		}
	}
}

// Describe sends nothing: the series appear as raft and memberlist emit
// them, so this is an unchecked collector.
func (s *gometricsSink) Describe(chan<- *prometheus.Desc) {}

// Collect exports every series. Series of one name may have been emitted
// with different label names; each gets the union, missing ones empty
// (which Prometheus reads as absent).
func (s *gometricsSink) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byName := map[string][]*gmSeries{}
	for _, sr := range s.series {
		byName[sr.name] = append(byName[sr.name], sr)
	}
	for name, list := range byName {
		f := s.families[name]
		var labelNames []string
		for _, sr := range list {
			for _, l := range sr.labels {
				labelNames = append(labelNames, l.Name)
			}
		}
		slices.Sort(labelNames)
		labelNames = slices.Compact(labelNames)
		desc := prometheus.NewDesc(name, f.help, labelNames, nil)
		for _, sr := range list {
			values := make([]string, len(labelNames))
			for _, l := range sr.labels {
				i, _ := slices.BinarySearch(labelNames, l.Name)
				values[i] = l.Value
			}
			var m prometheus.Metric
			var err error
			switch f.kind {
			case gmCounter:
				m, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, sr.value, values...)
			case gmGauge:
				m, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, sr.value, values...)
			case gmHistogram:
				buckets := make(map[float64]uint64, len(f.buckets))
				var cum uint64
				for i, le := range f.buckets {
					cum += sr.counts[i]
					buckets[le] = cum
				}
				m, err = prometheus.NewConstHistogram(desc, sr.count, sr.sum, buckets, values...)
			}
			if err == nil {
				ch <- m
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(s.droppedD, prometheus.CounterValue, float64(s.dropped))
}

// sanitizeMetricName maps a go-metrics key to a valid Prometheus name:
// anything but letters, digits, '_' and ':' becomes '_'.
func sanitizeMetricName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == ':' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, s)
}

// sanitizeLabelName is sanitizeMetricName for label names, which may not
// contain ':' nor start with a digit or "__" (reserved).
func sanitizeLabelName(s string) string {
	s = strings.ReplaceAll(sanitizeMetricName(s), ":", "_")
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		s = "_" + s
	}
	if strings.HasPrefix(s, "__") {
		s = "x" + s
	}
	return s
}
