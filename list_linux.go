package mailslot

import (
	"context"
	"errors"
	"strings"
	"sync"
)

// errUnverified marks a listed slot whose claimed name does not hash to the
// address it is bound at: a decoy, or not a mailslot.
var errUnverified = errors.New("name unverified: the slot's claimed name does not match its address")

// listConcurrency bounds the connections List has open at once.
const listConcurrency = 64

// List returns the live local mailslots of the namespace (WithNamespace;
// default the environment's). It asks every candidate at once and gives up
// on all of them together when the timeout (WithTimeout, default
// DefaultOpenTimeout) passes, so nothing anyone binds can stall it. PID, UID
// and GID are what the kernel reports for each slot's reader; a slot's name
// is shown only when it hashes to the address the slot is bound at; Info
// only when the slot admits the caller. Candidates that did not answer, or
// answered wrongly, are listed with Err set.
func List(opts ...OpenOption) ([]SlotStatus, error) {
	o := newOpenOptions(opts)
	addrs, err := slotAddrs(o.namespace)
	if err != nil {
		return nil, opErr("list", "", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	out := make([]SlotStatus, len(addrs))
	found := make([]bool, len(addrs))
	sem := make(chan struct{}, listConcurrency)
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				out[i], found[i] = SlotStatus{PID: -1, UID: -1, GID: -1, Err: ctx.Err()}, true
				return
			}
			out[i], found[i] = probe(ctx, o.namespace, a)
		}()
	}
	wg.Wait()
	live := out[:0]
	for i, s := range out {
		if found[i] {
			live = append(live, s)
		}
	}
	return live, nil
}

// probe asks the slot at addr for its handshake. It reports false if nothing
// listens there any more.
func probe(ctx context.Context, ns, addr string) (SlotStatus, bool) {
	st := SlotStatus{PID: -1, UID: -1, GID: -1}
	c, err := dialSlot(ctx, addr, -1)
	if err != nil {
		if errors.Is(err, ErrNotFound) && !strings.Contains(err.Error(), "not a mailslot") {
			return st, false
		}
		st.Err = err
		return st, true
	}
	c.close()
	st.PID, st.UID, st.GID = c.owner.PID, c.owner.UID, c.owner.GID
	n, err := ParseName(c.hello.Name)
	if err != nil || !n.IsLocal() || slotAddr(ns, n) != addr {
		st.Err = errUnverified
		return st, true
	}
	st.Name, st.Admitted = n, c.hello.Admitted
	if st.Admitted {
		st.Info = helloInfo(c.hello)
	}
	return st, true
}
