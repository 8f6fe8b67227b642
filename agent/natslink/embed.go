package natslink

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbedConfig configures a nats-server run inside the agent.
type EmbedConfig struct {
	// Listen is the client address (host:port) other agents connect to;
	// empty means in-process connections only. Port 0 picks a free port
	// (ClientURL tells which).
	Listen string
	// Cluster is the address (host:port) where other embedded servers
	// connect their routes; Routes are the cluster addresses of the others
	// (nats://host:port). Either makes this server part of a cluster.
	Cluster string
	Routes  []string
	// User and Password, when set, are required of every client.
	User, Password string
	// Ready bounds the wait for the server to accept connections; default
	// 10 s.
	Ready time.Duration
}

// Embed starts a nats-server in this process. Shut it down with Shutdown
// after closing the links that use it.
func Embed(cfg EmbedConfig) (*server.Server, error) {
	opts := &server.Options{NoLog: true, NoSigs: true, Username: cfg.User, Password: cfg.Password}
	if cfg.Listen == "" {
		// DontListen would also stop routes (nats-server#5174): a cluster
		// member without a client address listens on a random loopback port.
		if cfg.Cluster == "" && len(cfg.Routes) == 0 {
			opts.DontListen = true
		} else {
			opts.Host, opts.Port = "127.0.0.1", -1
		}
	} else {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("natslink: listen address: %w", err)
		}
		opts.Host, opts.Port = host, port
	}
	if cfg.Cluster != "" || len(cfg.Routes) > 0 {
		opts.Cluster.Name = "mailslot"
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", -1
		if cfg.Cluster != "" {
			host, port, err := splitHostPort(cfg.Cluster)
			if err != nil {
				return nil, fmt.Errorf("natslink: cluster address: %w", err)
			}
			opts.Cluster.Host, opts.Cluster.Port = host, port
		}
		for _, r := range cfg.Routes {
			u, err := url.Parse(r)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("natslink: route %q: want nats://host:port", r)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natslink: %w", err)
	}
	go s.Start()
	if cfg.Ready <= 0 {
		cfg.Ready = 10 * time.Second
	}
	if !s.ReadyForConnections(cfg.Ready) {
		s.Shutdown()
		return nil, fmt.Errorf("natslink: the embedded NATS server did not start within %v", cfg.Ready)
	}
	return s, nil
}

func splitHostPort(s string) (string, int, error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if port == 0 {
		port = -1 // nats-server: 0 is its default port, -1 a random one
	}
	return host, port, nil
}
