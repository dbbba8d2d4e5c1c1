package simulate

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rabbitscale/rabbitscale/policy"
)

// Reversal is the longest time between two scale events in opposite
// directions that counts as flapping.
const Reversal = 5 * time.Minute

// Summary is what a run reports.
type Summary struct {
	Controller string `json:"controller"`
	Workload   string `json:"workload"`
	// PeakDepth and P99Depth are over the per-second depth (ready +
	// unacked).
	PeakDepth int64 `json:"peakDepth"`
	P99Depth  int64 `json:"p99Depth"`
	// MaxWait and P99Wait are over every processed message, from its
	// arrival to its acknowledgement, in whole seconds rounded up (each
	// message's own time: the queue is FIFO and tracked by arrival
	// second).
	MaxWait time.Duration `json:"maxWait"`
	P99Wait time.Duration `json:"p99Wait"`
	// SecondsOverSLO counts the seconds in which the oldest message in
	// the queue had waited longer than the wait SLO.
	SecondsOverSLO int64         `json:"secondsOverSLO"`
	WaitSLO        time.Duration `json:"waitSLO"`
	// MessagesOverSLO counts the processed messages that waited longer
	// than the wait SLO.
	MessagesOverSLO int64 `json:"messagesOverSLO"`
	// ReplicaSeconds sums the pods that existed (starting or ready) over
	// the run's seconds: the cost.
	ReplicaSeconds int64 `json:"replicaSeconds"`
	MaxReplicas    int32 `json:"maxReplicas"`
	// ScaleEvents counts replica changes; Reversals those in the opposite
	// direction to the previous change and within Reversal of it.
	ScaleEvents int `json:"scaleEvents"`
	Reversals   int `json:"reversals"`
	// Drain is, for each burst of the workload, the time from its end
	// until fewer than one second of arrivals (or no more than at the
	// burst's start) wait; -1 when that did not happen before the end.
	Drain []time.Duration `json:"drain"`
	// Reaction is the time from the start of the workload's first burst
	// to the first scale-up at or after it; -1 without a burst or such a
	// scale-up.
	Reaction time.Duration `json:"reaction"`
	// ZeroAfterLastAck is the time from the end of the last second in
	// which a message was processed to the first scale to zero replicas
	// after it; -1 when nothing was processed or zero was not reached.
	ZeroAfterLastAck time.Duration `json:"zeroAfterLastAck"`
	// Arrived = Processed + Left, exactly.
	Arrived   int64 `json:"arrived"`
	Processed int64 `json:"processed"`
	Left      int64 `json:"left"`
}

func summarize(r *Result, w Workload, m Model, waits []int64) Summary {
	s := Summary{Controller: r.Controller, Workload: r.Workload, WaitSLO: m.WaitSLO}
	depths := make([]int64, len(r.Timeline))
	for i, p := range r.Timeline {
		depths[i] = p.Depth()
		s.PeakDepth = max(s.PeakDepth, p.Depth())
		s.Arrived += p.Arrived
		s.Processed += p.Processed
		s.ReplicaSeconds += int64(p.Replicas)
		s.MaxReplicas = max(s.MaxReplicas, p.Replicas)
		if m.WaitSLO > 0 && p.OldestWait > m.WaitSLO {
			s.SecondsOverSLO++
		}
	}
	if n := len(r.Timeline); n > 0 {
		s.Left = r.Timeline[n-1].Depth()
	}
	slices.Sort(depths)
	s.P99Depth = nearestRank(depths, 0.99)

	var total int64
	for wait, n := range waits {
		total += n
		if n > 0 {
			s.MaxWait = time.Duration(wait) * time.Second
		}
		if m.WaitSLO > 0 && time.Duration(wait)*time.Second > m.WaitSLO {
			s.MessagesOverSLO += n
		}
	}
	rank := int64(float64(total)*0.99 + 0.999999)
	var seen int64
	for wait, n := range waits {
		seen += n
		if total > 0 && seen >= rank {
			s.P99Wait = time.Duration(wait) * time.Second
			break
		}
	}

	s.ScaleEvents = len(r.Events)
	for i := 1; i < len(r.Events); i++ {
		a, b := r.Events[i-1], r.Events[i]
		if (a.To > a.From) != (b.To > b.From) && b.T-a.T <= Reversal {
			s.Reversals++
		}
	}

	for _, b := range w.Bursts {
		s.Drain = append(s.Drain, drainTime(r.Timeline, b))
	}
	s.Reaction = -1
	if len(w.Bursts) > 0 {
		for _, e := range r.Events {
			if e.To > e.From && e.T >= w.Bursts[0].Start {
				s.Reaction = e.T - w.Bursts[0].Start
				break
			}
		}
	}
	s.ZeroAfterLastAck = zeroAfterLastAck(r)
	return s
}

func zeroAfterLastAck(r *Result) time.Duration {
	last := -1
	for i, p := range r.Timeline {
		if p.Processed > 0 {
			last = i
		}
	}
	if last < 0 {
		return -1
	}
	acked := time.Duration(last+1) * time.Second
	for _, e := range r.Events {
		if e.To == 0 && e.T >= acked {
			return e.T - acked
		}
	}
	return -1
}

func nearestRank(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func drainTime(tl []Point, b Window) time.Duration {
	start, end := int(b.Start/time.Second), int(b.End/time.Second)
	if end <= 0 || end > len(tl) {
		return -1
	}
	var before int64
	if start > 0 && start <= len(tl) {
		before = tl[start-1].Ready
	}
	for i := end - 1; i < len(tl); i++ {
		if tl[i].Ready <= max(before, int64(tl[i].Rate)) {
			return time.Duration(i-(end-1)) * time.Second
		}
	}
	return -1
}

// WriteTable writes summaries side by side, one column per controller.
func WriteTable(w io.Writer, sums []Summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, cell func(Summary) string) {
		fmt.Fprint(tw, name+"\t")
		for _, s := range sums {
			fmt.Fprint(tw, cell(s)+"\t")
		}
		fmt.Fprintln(tw)
	}
	row("", func(s Summary) string { return s.Controller })
	row("peak depth", func(s Summary) string { return strconv.FormatInt(s.PeakDepth, 10) })
	row("p99 depth", func(s Summary) string { return strconv.FormatInt(s.P99Depth, 10) })
	row("max wait", func(s Summary) string { return s.MaxWait.String() })
	row("p99 wait", func(s Summary) string { return s.P99Wait.String() })
	if len(sums) > 0 {
		row("seconds over "+sums[0].WaitSLO.String(), func(s Summary) string { return strconv.FormatInt(s.SecondsOverSLO, 10) })
	}
	row("messages over SLO", func(s Summary) string { return strconv.FormatInt(s.MessagesOverSLO, 10) })
	row("replica-seconds", func(s Summary) string { return strconv.FormatInt(s.ReplicaSeconds, 10) })
	row("max replicas", func(s Summary) string { return strconv.Itoa(int(s.MaxReplicas)) })
	row("scale events", func(s Summary) string { return strconv.Itoa(s.ScaleEvents) })
	row("reversals < 5m", func(s Summary) string { return strconv.Itoa(s.Reversals) })
	row("drain after bursts", func(s Summary) string { return formatDrains(s.Drain) })
	row("first burst to scale-up", func(s Summary) string { return formatSpan(s.Reaction) })
	row("last ack to zero", func(s Summary) string { return formatSpan(s.ZeroAfterLastAck) })
	row("arrived", func(s Summary) string { return strconv.FormatInt(s.Arrived, 10) })
	row("processed", func(s Summary) string { return strconv.FormatInt(s.Processed, 10) })
	row("left", func(s Summary) string { return strconv.FormatInt(s.Left, 10) })
	return tw.Flush()
}

// WriteMarkdown writes summaries as a Markdown table, one row per run,
// for a README or an issue.
func WriteMarkdown(w io.Writer, sums []Summary) error {
	slo := "over SLO"
	if len(sums) > 0 {
		slo = "s over " + sums[0].WaitSLO.String()
	}
	var b strings.Builder
	b.WriteString("| workload | policy | peak depth | p99 wait | max wait | " + slo +
		" | replica-s | max pods | scale events | reversals < 5m | drain after bursts |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, s := range sums {
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %d | %d | %d | %d | %d | %s |\n",
			s.Workload, s.Controller, s.PeakDepth, s.P99Wait, s.MaxWait, s.SecondsOverSLO,
			s.ReplicaSeconds, s.MaxReplicas, s.ScaleEvents, s.Reversals, formatDrains(s.Drain))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatSpan(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return d.String()
}

// Versus is one workload's pair of runs for WriteVersus: rabbitscale and a
// baseline on the same workload, model and seed.
type Versus struct {
	Rabbitscale, Baseline Summary
	// Settings describes what both sides ran with (model, tick, knobs),
	// for the table's notes.
	Settings string
}

// WriteVersus writes one Markdown table, a row per workload, that sets
// rabbitscale against one baseline: replica-seconds (and rabbitscale's as
// a share of the baseline's), reversals within Reversal, p99 wait,
// messages over the wait SLO, the time from the first burst to the first
// scale-up, and the time from the last acknowledgement to zero replicas.
// Each cell is "rabbitscale / baseline". The settings of each row follow
// the table as notes.
func WriteVersus(w io.Writer, rows []Versus) error {
	base := "baseline"
	if len(rows) > 0 {
		base = rows[0].Baseline.Controller
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Each cell is rabbitscale / %s.\n\n", base)
	b.WriteString("| workload | replica-s | rabbitscale / " + base + " | reversals < 5m | p99 wait | messages over SLO | first burst to scale-up | last ack to zero |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range rows {
		a, k := r.Rabbitscale, r.Baseline
		share := "-"
		if k.ReplicaSeconds > 0 {
			share = fmt.Sprintf("%.0f%%", 100*float64(a.ReplicaSeconds)/float64(k.ReplicaSeconds))
		}
		fmt.Fprintf(&b, "| %s | %d / %d | %s | %d / %d | %s / %s | %d / %d | %s / %s | %s / %s |\n",
			a.Workload, a.ReplicaSeconds, k.ReplicaSeconds, share, a.Reversals, k.Reversals,
			a.P99Wait, k.P99Wait, a.MessagesOverSLO, k.MessagesOverSLO,
			formatSpan(a.Reaction), formatSpan(k.Reaction), formatSpan(a.ZeroAfterLastAck), formatSpan(k.ZeroAfterLastAck))
	}
	if len(rows) > 0 {
		b.WriteString("\n")
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "- %s: %s\n", r.Rabbitscale.Workload, r.Settings)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatDrains(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(ds))
	for _, d := range ds {
		if d < 0 {
			parts = append(parts, "never")
			continue
		}
		parts = append(parts, d.String())
	}
	if len(parts) > 3 { // spiky has many: show the worst
		worst := slices.MaxFunc(ds, func(a, b time.Duration) int {
			switch {
			case a < 0:
				return 1
			case b < 0:
				return -1
			}
			return int(a - b)
		})
		w := worst.String()
		if worst < 0 {
			w = "never"
		}
		return fmt.Sprintf("%d bursts, worst %s", len(ds), w)
	}
	return strings.Join(parts, " ")
}

// WriteTimelineCSV writes one line per simulated second; the scale_event
// column holds the change made at that second and its reason.
func WriteTimelineCSV(w io.Writer, r *Result) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"seconds", "arrival_rate", "arrived", "processed", "ready", "unacked", "depth",
		"replicas", "ready_pods", "oldest_wait_seconds", "scale_event"})
	ev := 0
	for _, p := range r.Timeline {
		event := ""
		for ev < len(r.Events) && r.Events[ev].T <= p.T {
			e := r.Events[ev]
			event = fmt.Sprintf("%d->%d: %s", e.From, e.To, e.Reason)
			ev++
		}
		_ = cw.Write([]string{
			strconv.FormatInt(int64(p.T/time.Second), 10),
			strconv.FormatFloat(p.Rate, 'f', -1, 64),
			strconv.FormatInt(p.Arrived, 10),
			strconv.FormatInt(p.Processed, 10),
			strconv.FormatInt(p.Ready, 10),
			strconv.FormatInt(p.Unacked, 10),
			strconv.FormatInt(p.Depth(), 10),
			strconv.Itoa(int(p.Replicas)),
			strconv.Itoa(int(p.ReadyPods)),
			strconv.FormatInt(int64(p.OldestWait/time.Second), 10),
			event,
		})
	}
	cw.Flush()
	return cw.Error()
}

// SettingsNote describes what both sides of a Versus row ran with: the
// rabbitscale.io/ annotations (without the queue, and without the prefix),
// rabbitscale's tick, the keda knobs and the model.
func SettingsNote(annotations map[string]string, every time.Duration, kc KEDAConfig, m Model) string {
	var keys []string
	for k := range annotations {
		if k != policy.KeyQueue && k != policy.KeyQueuePattern {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	ann := make([]string, 0, len(keys))
	for _, k := range keys {
		ann = append(ann, strings.TrimPrefix(k, policy.Prefix)+"="+annotations[k])
	}
	return fmt.Sprintf("rabbitscale %s, tick %s; keda %s; %g msg/s per pod (noise %g, prefetch %d), start-up %s, statistics every %s, %d initial replicas, wait SLO %s, seed %d",
		strings.Join(ann, ","), every, kc, m.PerPodRate, m.Noise, m.Prefetch, m.StartupDelay, m.Sampling, m.InitialReplicas, m.WaitSLO, m.Seed)
}
