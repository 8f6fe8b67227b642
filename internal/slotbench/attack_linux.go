//go:build linux

package slotbench

import (
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// attack floods every address under prefix until stop is closed: "connect"
// connects and hangs up, "datagram" sends empty datagrams (what cut an
// admitted writer to a tenth with the first design), "idle" spins the same
// loop against an address nothing is bound at (the control).
func attack(mode, prefix string, stop <-chan struct{}) {
	var addrs []*unix.SockaddrUnix
	refresh := func() {
		addrs = addrs[:0]
		b, _ := os.ReadFile("/proc/net/unix")
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 8 && strings.HasPrefix(f[7], prefix) {
				addrs = append(addrs, &unix.SockaddrUnix{Name: f[7]})
			}
		}
		if mode == "idle" || len(addrs) == 0 {
			addrs = append(addrs[:0], &unix.SockaddrUnix{Name: prefix + "nothing-here"})
		}
	}
	refresh()
	dg, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	for last := time.Now(); ; {
		select {
		case <-stop:
			return
		default:
		}
		if time.Since(last) > 100*time.Millisecond {
			refresh()
			last = time.Now()
		}
		for _, sa := range addrs {
			for i := 0; i < 32; i++ {
				switch mode {
				case "datagram":
					unix.Sendto(dg, nil, unix.MSG_DONTWAIT, sa)
				default:
					c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK, 0)
					if err != nil {
						continue
					}
					if unix.Connect(c, sa) == unix.EAGAIN {
						time.Sleep(50 * time.Microsecond) // backlog full
					}
					unix.Close(c)
				}
			}
		}
	}
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
