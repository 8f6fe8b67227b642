//go:build linux

package main

import (
	"errors"
	"flag"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
)

// The raw UDP baseline of each measurement.
func init() {
	roles["udp-recv"] = udpRecv
	roles["udp-send"] = udpSend
	roles["udp-echo"] = udpEcho
	roles["udp-ping"] = udpPing
	roles["flood"] = flood
}

// udpRead reads from pc with a deadline (zero: none).
func udpRead(pc net.PacketConn) readFunc {
	buf := make([]byte, 2048)
	return func(deadline time.Time) ([]byte, error) {
		pc.SetReadDeadline(deadline)
		n, _, err := pc.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, errTimeout
		}
		return buf[:n], err
	}
}

// udpTo opens an ephemeral socket and writes to "ip:port".
func udpTo(to string) (net.PacketConn, func([]byte) error, error) {
	dst, err := net.ResolveUDPAddr("udp4", to)
	if err != nil {
		return nil, nil, err
	}
	pc, err := net.ListenPacket("udp4", ":0")
	if err != nil {
		return nil, nil, err
	}
	return pc, func(b []byte) error { _, err := pc.WriteTo(b, dst); return err }, nil
}

func udpRecv(fs *flag.FlagSet, args []string) (any, error) {
	f := addRecvFlags(fs, "listen")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	pc, err := net.ListenPacket("udp4", *f.at)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	_ = pc.(*net.UDPConn).SetReadBuffer(4 << 20)
	return recvAll(f, udpRead(pc)), nil
}

// udpClient parses the sending flags and opens the socket they name.
func udpClient(fs *flag.FlagSet, args []string, count int) (sendFlags, net.PacketConn, func([]byte) error, error) {
	f := addSendFlags(fs, count)
	if err := fs.Parse(args); err != nil {
		return f, nil, nil, err
	}
	pc, write, err := udpTo(*f.to)
	return f, pc, write, err
}

func udpSend(fs *flag.FlagSet, args []string) (any, error) {
	f, pc, write, err := udpClient(fs, args, 1000)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	return sendAll(f, write), nil
}

func udpEcho(fs *flag.FlagSet, args []string) (any, error) {
	addr := fs.String("listen", "", "ip:port")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	pc, err := net.ListenPacket("udp4", *addr)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	ready()
	buf := make([]byte, 2048)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return nil, err
		}
		pc.WriteTo(buf[:n], from)
	}
}

func udpPing(fs *flag.FlagSet, args []string) (any, error) {
	f, pc, write, err := udpClient(fs, args, 2000)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	return pingAll(*f.size, *f.count, write, udpRead(pc))
}

// flood sends garbage to UDP 137 and 138 of a host (netnstest.Flood).
func flood(fs *flag.FlagSet, args []string) (any, error) {
	to := fs.String("to", "", "target ip")
	count := fs.Int("count", 100000, "datagrams in all (half to each port)")
	rate := fs.Float64("rate", 0, "datagrams per second (0 = as fast as possible)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	target, err := netip.ParseAddr(*to)
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenPacket("udp4", ":0")
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	ready()
	start := time.Now()
	n, err := netnstest.Flood(pc, target, *count, *rate, 1)
	return sendResult{Sent: n, Errors: *count - n, Seconds: time.Since(start).Seconds()}, err
}
