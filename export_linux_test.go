package mailslot

import "time"

// SetFloodLogGap shortens the interval of flood log lines for a test.
func SetFloodLogGap(d time.Duration) (restore func()) {
	old := floodLogGap
	floodLogGap = d
	return func() { floodLogGap = old }
}

// AddrForTest is the slot's abstract socket address.
func (s *Slot) AddrForTest() string { return s.addr }

// AddrOf is the address name would have in namespace ns.
func AddrOf(ns, name string) string {
	n, err := ParseName(name)
	if err != nil {
		panic(err)
	}
	return slotAddr(ns, n)
}
