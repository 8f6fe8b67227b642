package main

import (
	"context"
	"flag"
	"log/slog"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/natslink"
)

// natsFlags are the agent's flags for the NATS link (agent/natslink).
type natsFlags struct {
	urls, listen, cluster, routes *string
	creds, nkey, user, password   *string
	tlsCA, tlsCert, tlsKey        *string
}

func addNATSFlags(fs *flag.FlagSet) *natsFlags {
	return &natsFlags{
		urls:     fs.String("nats", "", "join the agents of the workgroup on these NATS servers (URL[,URL...])"),
		listen:   fs.String("nats-listen", "", "run an embedded NATS server for other agents on this address (host:port; the agent joins it)"),
		cluster:  fs.String("nats-cluster", "", "the embedded server's cluster address for routes from other embedded servers (host:port)"),
		routes:   fs.String("nats-routes", "", "routes to other embedded servers' cluster addresses (nats://host:port[,...])"),
		creds:    fs.String("nats-creds", "", "NATS credentials file (JWT and nkey seed)"),
		nkey:     fs.String("nats-nkey", "", "NATS nkey seed file"),
		user:     fs.String("nats-user", "", "NATS user (the embedded server requires it of clients too)"),
		password: fs.String("nats-password", "", "NATS password"),
		tlsCA:    fs.String("nats-tls-ca", "", "CA file to verify the NATS server"),
		tlsCert:  fs.String("nats-tls-cert", "", "client certificate file for the NATS server"),
		tlsKey:   fs.String("nats-tls-key", "", "client key file for the NATS server"),
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// validate checks the flags that go together, before anything is bound.
func (f *natsFlags) validate() error {
	switch {
	case *f.listen == "" && (*f.cluster != "" || *f.routes != ""):
		return usagef("--nats-cluster and --nats-routes need --nats-listen")
	case *f.listen != "" && *f.urls != "":
		return usagef("use --nats or --nats-listen, not both (other embedded servers join with --nats-routes)")
	case (*f.tlsCert == "") != (*f.tlsKey == ""):
		return usagef("--nats-tls-cert and --nats-tls-key go together")
	case *f.urls == "" && *f.listen == "" && (*f.creds != "" || *f.nkey != "" || *f.user != "" || *f.tlsCA != "" || *f.tlsCert != ""):
		return usagef("NATS credentials and TLS options need --nats or --nats-listen")
	}
	return nil
}

// start links a to NATS when --nats or --nats-listen is set (else it
// returns nil, nil: the agent stays LAN-only). The embedded server binds
// here, while still privileged.
func (f *natsFlags) start(a *agent.Agent, log *slog.Logger) (*natsRun, error) {
	if *f.urls == "" && *f.listen == "" {
		return nil, nil
	}
	cfg := natslink.Config{URLs: splitList(*f.urls), Logger: log}
	if *f.creds != "" {
		cfg.Options = append(cfg.Options, nats.UserCredentials(*f.creds))
	}
	if *f.nkey != "" {
		o, err := nats.NkeyOptionFromSeed(*f.nkey)
		if err != nil {
			return nil, usagef("--nats-nkey: %v", err)
		}
		cfg.Options = append(cfg.Options, o)
	}
	if *f.user != "" {
		cfg.Options = append(cfg.Options, nats.UserInfo(*f.user, *f.password))
	}
	if *f.tlsCA != "" {
		cfg.Options = append(cfg.Options, nats.RootCAs(*f.tlsCA))
	}
	if *f.tlsCert != "" {
		cfg.Options = append(cfg.Options, nats.ClientCert(*f.tlsCert, *f.tlsKey))
	}
	r := &natsRun{}
	if *f.listen != "" {
		srv, err := natslink.Embed(natslink.EmbedConfig{Listen: *f.listen, Cluster: *f.cluster, Routes: splitList(*f.routes),
			User: *f.user, Password: *f.password})
		if err != nil {
			return nil, err
		}
		r.srv, cfg.Server = srv, srv
		log.Info("embedded NATS server listening", "addr", *f.listen, "cluster", *f.cluster, "routes", *f.routes)
	}
	l, err := natslink.New(a, cfg)
	if err != nil {
		r.close()
		return nil, err
	}
	r.link = l
	return r, nil
}

// natsRun is a running link and its optional embedded server.
type natsRun struct {
	link *natslink.Link
	srv  *server.Server
}

// run serves the link until ctx ends; done is closed after.
func (r *natsRun) run(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	r.link.Run(ctx)
}

func (r *natsRun) close() {
	if r.link != nil {
		r.link.Close()
	}
	if r.srv != nil {
		r.srv.Shutdown()
	}
}
