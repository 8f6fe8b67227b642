package names

import (
	"time"

	"github.com/mailslot/mailslot/wire/netbios"
)

// SetDelegated hands the names for which held reports true to another
// program on this host: beside Samba's nmbd, a name nmbd already has (its
// netbios name, an alias, its workgroup) is registered, answered and
// defended by nmbd, and the service must not compete with it on the wire.
// Such a name stays ours for datagrams (Owns). Names no longer held go
// back to Registering, for the next Register. A nil held takes every
// delegated name back. Entries in Conflict or Released are left alone.
func (s *Service) SetDelegated(held func(name netbios.Name, group bool) bool) (changed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now, back := time.Now(), false
	for _, e := range s.own {
		if e.State == Conflict || e.State == Released {
			continue
		}
		want := held != nil && held(e.Name, e.Group)
		switch {
		case want && e.State != Delegated:
			e.State, e.Since, changed = Delegated, now, true
		case !want && e.State == Delegated:
			e.State, e.Since, changed, back = Registering, now, true, true
		}
	}
	if back {
		// The next Register claims them on every interface.
		clear(s.registered)
	}
	return changed
}
