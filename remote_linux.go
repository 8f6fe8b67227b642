package mailslot

import (
	"context"
	"fmt"
)

// openRemote opens a non-local name (\\HOST\mailslot\..., \\*\mailslot\...)
// through the network agent. This file belongs to the agent; until it lands
// remote names are not supported.
func openRemote(ctx context.Context, n Name, o *openOptions) (writerBackend, error) {
	return nil, fmt.Errorf("%w: remote and broadcast mailslots need the network agent, which is not part of this build", ErrNotSupported)
}
