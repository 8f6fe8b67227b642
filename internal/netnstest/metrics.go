//go:build linux

package netnstest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTPClient returns a client whose connections are dialled from inside
// the host, for servers that listen there (an agent's metrics on
// 127.0.0.1 of its namespace).
func (h *Host) HTTPClient() *http.Client {
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := h.Do(func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// Metrics reads Prometheus text metrics from http://addr/metrics inside the
// host: name → value (labels, if any, stay part of the name).
func (h *Host) Metrics(addr string) (map[string]float64, error) {
	resp, err := h.HTTPClient().Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("metrics of %s: %v", h, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics of %s: %v %s", h, err, resp.Status)
	}
	out := map[string]float64{}
	for _, line := range Lines(string(body)) {
		f := strings.Fields(line)
		if len(f) != 2 || strings.HasPrefix(line, "#") {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("metrics of %s: no values in %q", h, Tail(string(body), 500))
	}
	return out, nil
}

// UDPStats reads the host's UDP counters (/proc/net/snmp of its namespace):
// RcvbufErrors counts datagrams the kernel dropped because a socket's
// receive buffer was full.
func (h *Host) UDPStats() (map[string]int64, error) {
	out, err := h.Run(30*time.Second, "cat", "/proc/net/snmp")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range Lines(out) {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		m := map[string]int64{}
		for i, v := range f[1:] {
			if i < len(names) {
				m[names[i]], _ = strconv.ParseInt(v, 10, 64)
			}
		}
		return m, nil
	}
	return nil, fmt.Errorf("no Udp counters in /proc/net/snmp of %s", h)
}
