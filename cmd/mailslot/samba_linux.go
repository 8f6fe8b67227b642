package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/samba"
	"github.com/mailslot/mailslot/internal/agentproto"
)

// sambaFlags are the agent's flags for running beside Samba's nmbd.
type sambaFlags struct {
	mode, socket, conf *string
}

func addSambaFlags(fs *flag.FlagSet) sambaFlags {
	return sambaFlags{
		mode: fs.String("mode", "auto", "network mode: auto (beside Samba's nmbd when it runs, else owner, following nmbd as it starts and stops), owner or beside-samba"),
		socket: fs.String("samba-socket", "", "nmbd's unexpected-packet socket (default: <nmbd:socket dir>/unexpected from --samba-conf, else "+
			samba.DefaultSocketDir+"/unexpected)"),
		conf: fs.String("samba-conf", samba.DefaultConf, "Samba's smb.conf, read for \"nmbd:socket dir\""),
	}
}

// apply puts the flags into cfg.
func (f sambaFlags) apply(cfg *agent.Config) error {
	m, ok := samba.ParseMode(*f.mode)
	if !ok {
		return usagef("invalid --mode %q (auto, owner or beside-samba)", *f.mode)
	}
	cfg.Mode, cfg.SambaSocket = m, *f.socket
	if cfg.SambaSocket == "" {
		cfg.SambaSocket = samba.SocketPath(*f.conf)
	}
	return nil
}

// printMode prints the agent's network mode for `mailslot names`.
func printMode(w io.Writer, t *agentproto.NameTable) {
	if t.Mode == "" {
		return
	}
	fmt.Fprintf(w, "  mode %s\n", t.Mode)
	if s := t.Samba; s != nil && t.Mode == string(samba.Beside) {
		state := "subscribed"
		if !s.Connected {
			state = "not subscribed (nmbd restarting?)"
		}
		fmt.Fprintf(w, "  nmbd socket %s: %s; %d datagrams, %d cut at 576 bytes, %d duplicate broadcasts dropped\n",
			s.Socket, state, s.Frames, s.Cut, s.Duplicates)
	}
}
