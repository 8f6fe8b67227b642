package main

import (
	"bytes"
	"strings"
	"testing"
)

// NATS flags that do not go together are usage errors (exit 2), found
// before the agent binds anything.
func TestAgentNATSFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--nats-routes", "nats://192.0.2.1:6222"}, "need --nats-listen"},
		{[]string{"--nats-cluster", "192.0.2.1:6222"}, "need --nats-listen"},
		{[]string{"--nats", "nats://192.0.2.1:4222", "--nats-listen", "192.0.2.1:4222"}, "not both"},
		{[]string{"--nats", "nats://192.0.2.1:4222", "--nats-tls-cert", "c.pem"}, "go together"},
		{[]string{"--nats-user", "u"}, "need --nats or --nats-listen"},
	} {
		var out, errOut bytes.Buffer
		code := run(append([]string{"agent", "--name", "T"}, c.args...), &out, &errOut, strings.NewReader(""))
		if code != 2 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, errOut.String(), c.want)
		}
	}
}
