//go:build !linux

package privdrop

import "errors"

// Keeper is only implemented on Linux.
type Keeper struct{}

// New returns a keeper that cannot drop privileges.
func New() *Keeper { return &Keeper{} }

// Do runs f.
func (k *Keeper) Do(f func() error) error { return f() }

// Kept returns 0.
func (k *Keeper) Kept() uint64 { return 0 }

// Needed returns 0.
func Needed() uint64 { return 0 }

// Drop is not supported.
func (k *Keeper) Drop(uid, gid int, keep uint64) error {
	return errors.New("privdrop: not supported on this system")
}
