package mailslot_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/slotbench"
)

// The raw Unix datagram socket runs in the same benchmark run as the slot,
// so compare the two lines: docs/performance.md has the ratios.

func BenchmarkThroughput(b *testing.B) {
	for _, size := range []int{64, 4096} {
		for _, writers := range []int{1, 8} {
			for _, k := range []slotbench.Kind{slotbench.Raw, slotbench.Slot} {
				b.Run(fmt.Sprintf("%s/%dB/%dw", k, size, writers), func(b *testing.B) {
					b.ReportAllocs()
					b.SetBytes(int64(size))
					rate, err := slotbench.Throughput(k, size, writers, b.N)
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(rate, "msg/s")
				})
			}
		}
	}
}

func BenchmarkPingPong(b *testing.B) {
	for _, k := range []slotbench.Kind{slotbench.Raw, slotbench.Slot} {
		b.Run(string(k), func(b *testing.B) {
			rtts, err := slotbench.PingPong(k, b.N)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(slotbench.Percentile(rtts, 50))/float64(time.Microsecond), "p50-µs")
			b.ReportMetric(float64(slotbench.Percentile(rtts, 99))/float64(time.Microsecond), "p99-µs")
		})
	}
}

// BenchmarkAttack runs an admitted writer while uid 65534 floods the slot
// (needs root and setpriv), against the unattacked baseline and a control
// in the same run. See docs/performance.md.
func BenchmarkAttack(b *testing.B) {
	for _, mode := range []string{"connect", "datagram"} {
		b.Run(mode, func(b *testing.B) {
			r, err := slotbench.Attack(mode, 64, max(b.N, 10000), 1)
			if errors.Is(err, errors.ErrUnsupported) {
				b.Skip(err)
			}
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.Attacked/r.Baseline, "attacked/baseline")
			b.ReportMetric(r.Attacked/r.Control, "attacked/control")
			b.ReportMetric(r.IdleCPU, "reader-CPU-share")
		})
	}
}
