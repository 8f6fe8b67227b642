package mailslot

import (
	"os"
	"time"
)

// DefaultOpenTimeout bounds how long Open (and Writer.Info, List) waits for
// a slot's answer unless WithTimeout says otherwise.
const DefaultOpenTimeout = time.Second

// An OpenOption configures Open, OpenContext, Send and List.
type OpenOption func(*openOptions)

// openOptions are the settled options of one Open.
type openOptions struct {
	timeout   time.Duration // how long opening may take
	owner     int           // required owner uid; -1 = any
	namespace string
}

// WithTimeout bounds how long opening may take (default DefaultOpenTimeout).
// A context deadline given to OpenContext applies as well.
func WithTimeout(d time.Duration) OpenOption {
	return func(o *openOptions) { o.timeout = d }
}

// WithOwner demands that the slot's reader run as uid, as the kernel reports
// it. Otherwise Open fails with ErrAccessDenied naming the real owner, before
// anything is sent: a slot squatted by another user learns nothing.
func WithOwner(uid int) OpenOption {
	return func(o *openOptions) { o.owner = uid }
}

// WithNamespace selects the mailslot namespace (default: the environment
// variable NamespaceEnv, read when Open is called).
func WithNamespace(ns string) OpenOption {
	return func(o *openOptions) { o.namespace = ns }
}

func newOpenOptions(opts []OpenOption) *openOptions {
	o := &openOptions{timeout: DefaultOpenTimeout, owner: -1, namespace: os.Getenv(NamespaceEnv)}
	for _, f := range opts {
		f(o)
	}
	return o
}
