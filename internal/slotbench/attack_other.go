//go:build !linux

package slotbench

import "time"

// The attack benchmark floods Linux abstract sockets as another uid
// (setpriv): there is nothing to attack here, and StartAttacker fails
// before these are reached. They exist so that the package (and the
// mailslot command) builds everywhere.

func attack(mode, prefix string, stop <-chan struct{}) { <-stop }

func cpuTime() time.Duration { return 0 }
