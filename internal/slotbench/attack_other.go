//go:build !linux

package slotbench

import "errors"

// AttackerMain does nothing here: the attack benchmark needs Linux.
func AttackerMain() {}

// Attack is not available on this platform.
func Attack(mode string, size, n, repeat int) (AttackResult, error) {
	return AttackResult{Mode: mode}, errors.ErrUnsupported
}
