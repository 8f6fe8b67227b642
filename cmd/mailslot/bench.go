package main

import (
	"encoding/json"
	"fmt"
	"io"
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
	n := fs.Int("n", 200000, "messages per throughput run")
	rounds := fs.Int("rounds", 20000, "ping-pong round trips")
	idle := fs.Int("idle", 10000, "idle slots for the memory measurement (0 = skip)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *n <= 0 || *rounds <= 0 || *idle < 0 {
		return usagef("bench takes no arguments; -n and -rounds must be positive")
	}
	var rows []benchRow
	for _, size := range []int{64, 4096} {
		for _, writers := range []int{1, 8} {
			var r [2]float64
			for i, k := range []slotbench.Kind{slotbench.Raw, slotbench.Slot} {
				if r[i], err = slotbench.Throughput(k, size, writers, *n); err != nil {
					return fmt.Errorf("throughput %s: %w", k, err)
				}
			}
			rows = append(rows, benchRow{fmt.Sprintf("throughput %dB %d writer(s)", size, writers), "msg/s", r[0], r[1], r[1] / r[0]})
		}
	}
	var lat [2][]time.Duration
	for i, k := range []slotbench.Kind{slotbench.Raw, slotbench.Slot} {
		if lat[i], err = slotbench.PingPong(k, *rounds); err != nil {
			return fmt.Errorf("ping-pong %s: %w", k, err)
		}
	}
	for _, p := range []float64{50, 99} {
		raw, slot := slotbench.Percentile(lat[0], p), slotbench.Percentile(lat[1], p)
		rows = append(rows, benchRow{fmt.Sprintf("ping-pong RTT p%g", p), "µs", us(raw), us(slot), float64(slot) / float64(raw)})
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
