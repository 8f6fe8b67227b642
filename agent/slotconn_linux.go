package agent

import (
	"syscall"

	"github.com/mailslot/mailslot/internal/agentproto"
)

// slotConn is how the receive path writes to a registered slot's
// connection without the delivery queue (slotWriter): one delivery at once,
// or the deliveries of one receive batch staged and written with one
// sendmmsg, so that the slot wakes once per batch. Its methods run under
// the sink's lock.
type slotConn struct {
	rc     syscall.RawConn
	out    agentproto.Frame // scratch for encoding
	one    []byte           // now's frame
	scr    []byte           // the staged frames' bytes
	frames [][]byte         // staged, not yet written (at most maxStaged)
	bt     *seqBatch
}

func newSlotConn(rc syscall.RawConn) *slotConn {
	return &slotConn{rc: rc, out: agentproto.Frame{Op: agentproto.OpDeliver},
		scr: make([]byte, 0, maxStaged*agentproto.MaxFrame/4), frames: make([][]byte, 0, maxStaged), bt: newSeqBatch(1)}
}

func (c *slotConn) now(d *Delivery) bool {
	var err error
	if c.one, err = appendDelivery(c.one[:0], &c.out, d); err != nil {
		return false
	}
	return sendNow(c.rc, c.one)
}

func (c *slotConn) stage(d *Delivery) bool {
	if len(c.frames) == maxStaged {
		return false
	}
	start := len(c.scr)
	scr, err := appendDelivery(c.scr, &c.out, d)
	if err != nil {
		return false
	}
	c.scr = scr
	c.frames = append(c.frames, scr[start:len(scr):len(scr)])
	return true
}

func (c *slotConn) flush() (written, left int) {
	written = c.bt.sendSome(c.rc, c.frames)
	c.keep(written)
	return written, len(c.frames)
}

// drain writes what is staged, waiting while the slot's socket is full: the
// queue's writer calls it, never the receive path.
func (c *slotConn) drain() error {
	if len(c.frames) == 0 {
		return nil
	}
	err := c.bt.send(c.rc, c.frames)
	c.keep(len(c.frames))
	return err
}

// keep drops the first written staged frames.
func (c *slotConn) keep(written int) {
	n := copy(c.frames, c.frames[written:])
	clear(c.frames[n:])
	c.frames = c.frames[:n]
	if n == 0 {
		c.scr = c.scr[:0]
	}
}
