package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/mailslot/mailslot"
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
	idle := fs.Int("idle", 5000, "idle slots for the memory measurement (0 = skip; each takes 3 descriptors)")
	attack := fs.Bool("attack", true, "also measure an admitted writer while uid 65534 floods the slot (needs root and setpriv)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *n <= 0 || *rounds <= 0 || *repeat <= 0 || *idle < 0 {
		return usagef("bench takes no arguments; -n, -rounds and -repeat must be positive")
	}
	settings := fmt.Sprintf("settings: %d messages per throughput run, %d ping-pong rounds, medians of %d alternating runs; "+
		"mailslot writers: write timeout %v, default quota %d bytes; reader: read timeout forever; GOMAXPROCS %d of %d CPUs; %s; "+
		"load average at start %s (ratios move with other load: compare them, and repeat)",
		*n, *rounds, *repeat, slotbench.WriteTimeout, mailslot.DefaultQuota, runtime.GOMAXPROCS(0), runtime.NumCPU(),
		runtime.Version(), loadAverage())
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
	if *attack {
		for _, mode := range []string{"connect", "datagram"} {
			r, err := slotbench.Attack(mode, 64, *n, 3)
			if err != nil {
				return fmt.Errorf("attack %s: %w", mode, err)
			}
			rows = append(rows,
				benchRow{fmt.Sprintf("%s flood by uid 65534: writer vs no attack", mode), "msg/s", r.Baseline, r.Attacked, r.Attacked / r.Baseline},
				benchRow{fmt.Sprintf("%s flood by uid 65534: writer vs same loop aimed at nothing", mode), "msg/s", r.Control, r.Attacked, r.Attacked / r.Control},
				benchRow{fmt.Sprintf("%s flood by uid 65534: reader CPU, idle slot", mode), "CPU share", 0, r.IdleCPU, 0})
		}
	}
	if *idle > 0 {
		per, err := slotbench.IdleMemory(*idle)
		if err != nil {
			return fmt.Errorf("idle memory: %w", err)
		}
		rows = append(rows, benchRow{fmt.Sprintf("resident memory per idle slot (%d slots)", *idle), "bytes", 0, per, 0})
	}
	if *asJSON {
		b, err := json.MarshalIndent(struct {
			Settings string     `json:"settings"`
			Rows     []benchRow `json:"rows"`
		}{settings, rows}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	fmt.Fprintln(stdout, settings)
	fmt.Fprintf(stdout, "%-62s %14s %14s %7s\n", "test", "baseline", "mailslot", "ratio")
	for _, r := range rows {
		if r.Raw == 0 {
			fmt.Fprintf(stdout, "%-62s %14s %14.3g %7s  %s\n", r.Test, "-", r.Slot, "-", r.Unit)
			continue
		}
		fmt.Fprintf(stdout, "%-62s %14.1f %14.1f %6.2fx  %s\n", r.Test, r.Raw, r.Slot, r.Ratio, r.Unit)
	}
	return nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// loadAverage is the first three fields of /proc/loadavg, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

var median = slotbench.Median
