package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/mailslot/mailslot/internal/slotbench"
)

type benchRow struct {
	Test  string  `json:"test"`
	Unit  string  `json:"unit"`
	Raw   float64 `json:"raw"`
	Slot  float64 `json:"slot"`
	Ratio float64 `json:"ratio"` // slot / raw
}

func runBench(args []string, stdout, stderr io.Writer, _ io.Reader) error {
	fs := newFlags("bench", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	n := fs.Int("n", 100000, "messages per throughput run")
	rounds := fs.Int("rounds", 20000, "ping-pong round trips per run")
	repeat := fs.Int("repeat", 5, "runs of each measurement, raw and mailslot alternating; medians are reported")
	idle := fs.Int("idle", 10000, "idle slots for the memory measurement (0 = skip)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *n <= 0 || *rounds <= 0 || *repeat <= 0 || *idle < 0 {
		return usagef("bench takes no arguments; -n, -rounds and -repeat must be positive")
	}
	var rows []benchRow
	kinds := []slotbench.Kind{slotbench.Raw, slotbench.Slot}
	for _, size := range []int{64, 4096} {
		for _, writers := range []int{1, 8} {
			var r [2][]float64
			for rep := 0; rep < *repeat; rep++ {
				for i, k := range kinds {
					rate, err := slotbench.Throughput(k, size, writers, *n)
					if err != nil {
						return fmt.Errorf("throughput %s: %w", k, err)
					}
					r[i] = append(r[i], rate)
				}
			}
			raw, slot := median(r[0]), median(r[1])
			rows = append(rows, benchRow{fmt.Sprintf("throughput %dB %d writer(s)", size, writers), "msg/s", raw, slot, slot / raw})
		}
	}
	var p50, p99 [2][]float64
	for rep := 0; rep < *repeat; rep++ {
		for i, k := range kinds {
			rtts, err := slotbench.PingPong(k, *rounds)
			if err != nil {
				return fmt.Errorf("ping-pong %s: %w", k, err)
			}
			p50[i] = append(p50[i], us(slotbench.Percentile(rtts, 50)))
			p99[i] = append(p99[i], us(slotbench.Percentile(rtts, 99)))
		}
	}
	for _, p := range []struct {
		name string
		v    [2][]float64
	}{{"p50", p50}, {"p99", p99}} {
		raw, slot := median(p.v[0]), median(p.v[1])
		rows = append(rows, benchRow{"ping-pong RTT " + p.name, "µs", raw, slot, slot / raw})
	}
	if *idle > 0 {
		per, err := slotbench.IdleMemory(*idle)
		if err != nil {
			return fmt.Errorf("idle memory: %w", err)
		}
		rows = append(rows, benchRow{fmt.Sprintf("resident memory per idle slot (%d slots)", *idle), "bytes", 0, per, 0})
	}
	if *asJSON {
		b, err := json.MarshalIndent(rows, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	fmt.Fprintf(stdout, "%-46s %14s %14s %7s\n", "test", "raw unixgram", "mailslot", "ratio")
	for _, r := range rows {
		if r.Raw == 0 {
			fmt.Fprintf(stdout, "%-46s %14s %14.0f %7s  %s\n", r.Test, "-", r.Slot, "-", r.Unit)
			continue
		}
		fmt.Fprintf(stdout, "%-46s %14.1f %14.1f %6.2fx  %s\n", r.Test, r.Raw, r.Slot, r.Ratio, r.Unit)
	}
	return nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
