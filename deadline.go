package mailslot

import "time"

// Deadlines are kept in atomic.Int64 fields as UnixNano, 0 meaning none
// (deadlineNanos, writer.go), so that readers and writers can load them
// without a lock. Shared by every backend.

// readWait is how long a read that started at start with the read timeout
// timeout (negative: WaitForever) may still wait, given the deadline dl in
// deadlineNanos form. forever is true when neither limits it.
func readWait(start time.Time, timeout time.Duration, dl int64) (wait time.Duration, forever bool) {
	if timeout < 0 && dl == 0 {
		return 0, true
	}
	now := time.Now()
	wait = time.Duration(1<<63 - 1)
	if timeout >= 0 {
		wait = start.Add(timeout).Sub(now)
	}
	if dl != 0 {
		if d := time.Unix(0, dl).Sub(now); d < wait {
			wait = d
		}
	}
	return wait, false
}
