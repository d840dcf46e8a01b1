package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteText prints the report as a table with the saturation rate and the
// target checks under it.
func (rep *Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "deploybot bench, %s: %s per phase, rates %s/s, kind %s; %d CPUs, load average %s at start, %s at end\n",
		rep.Started.Format("2006-01-02 15:04 MST"), rep.Duration, joinInts(rep.Rates), rep.Kind, rep.Host.CPUs, rep.Host.LoadAvgStart, rep.Host.LoadAvgEnd)
	fmt.Fprintln(w, "Open loop: each request leaves at its due time; latency is from that time to the answer, of every answered request.")
	if rep.LiveWorker {
		fmt.Fprintln(w, "The worker ran during every phase (--live-worker): it competes with the gateway and Temporal for this machine.")
	} else {
		fmt.Fprintln(w, "The worker was paused during each measured phase and caught up after it (settle): the ratio to the floor is the gateway's own cost.")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rate/s\tphase\tsent\tok\terrors\tachieved/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tp99/floor\ttemporal cpu\tbench cpu\tsettle s\t")
	for _, ph := range rep.Phases {
		r := "-"
		if ph.Kind != KindFloor {
			r = fmt.Sprintf("%.2f×", ph.P99Ratio)
		}
		settle := "-"
		if ph.Kind != KindFloor {
			settle = fmt.Sprintf("%.1f", ph.SettleSeconds)
			if ph.Unsettled > 0 {
				settle += fmt.Sprintf(" (%d left)", ph.Unsettled)
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t\n",
			ph.Rate, ph.Kind, ph.Sent, ph.OK, ph.ErrorCount(), ph.AchievedRate, ph.P50Ms, ph.P90Ms, ph.P99Ms, ph.MaxMs, r,
			cores(ph.TemporalCores), cores(ph.BenchCores), settle)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "cpu: cores used during the phase by the Temporal dev server, and by the bench process (gateway, load generator, simulator, stand-in).")
	fmt.Fprintln(w)
	for _, ph := range rep.Phases {
		if ph.ErrorCount() > 0 {
			fmt.Fprintf(w, "errors at %d/s, %s: %s\n", ph.Rate, ph.Kind, formatCounts(ph.Errors))
			for _, k := range slices.Sorted(maps.Keys(ph.ErrorSamples)) {
				fmt.Fprintf(w, "  first %s: %s\n", k, ph.ErrorSamples[k])
			}
		}
	}
	var late []string
	for _, ph := range rep.Phases {
		if ph.SendLagP99Ms > 5 {
			late = append(late, fmt.Sprintf("%d/s %s %.0f ms", ph.Rate, ph.Kind, ph.SendLagP99Ms))
		}
	}
	if len(late) > 0 {
		fmt.Fprintf(w, "Note: the load generator itself sent late (p99 of its lag over 5 ms; this machine's CPU, not only the server, limited these phases; the lag is inside the latencies): %s\n", strings.Join(late, ", "))
	}
	fmt.Fprintf(w, "Saturation (%s):\n", rep.Saturation.Definition)
	if rep.Saturation.Rate == 0 {
		fmt.Fprintf(w, "  none: the floor kept up at every rate tried (up to %d/s)\n", slices.Max(rep.Rates))
	} else {
		fmt.Fprintf(w, "  Temporal saturates at %d/s: %s\n", rep.Saturation.Rate, rep.Saturation.Reason)
	}
	if rep.Saturation.HighestSustained > 0 {
		fmt.Fprintf(w, "  highest sustained floor rate: %d/s\n", rep.Saturation.HighestSustained)
	}
	if len(rep.Targets) > 0 {
		fmt.Fprintf(w, "Target (%s):\n", TargetRule)
		for _, t := range rep.Targets {
			if t.Rate == 0 {
				fmt.Fprintf(w, "  %s: %s\n", t.Kind, t.Note)
				continue
			}
			fmt.Fprintf(w, "  %s at %d/s: %s\n", t.Kind, t.Rate, t.Note)
		}
	}
	fmt.Fprintf(w, "Bench process RSS at the end: %.0f MB (gateway, worker, simulator, Slack stand-in and the load generator share it; the Temporal server is a child process)\n", rep.ProcessRSSMB)
	return nil
}

// WriteJSON prints the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error { return writeJSON(w, rep) }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// formatCounts renders counts as "(a 3, b 1)", by name.
func formatCounts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

func cores(c float64) string {
	if c < 0 {
		return "?"
	}
	return fmt.Sprintf("%.2f", c)
}
