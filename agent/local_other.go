//go:build !linux

package agent

import "context"

type client struct{}

func (a *Agent) serveLocal(context.Context) {}

func (a *Agent) closeClients() {}
