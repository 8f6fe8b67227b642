package privdrop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const childEnv = "PRIVDROP_TEST_CHILD"

// The drop cannot be undone, so it happens in a child: this test binary
// run again with childEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// child drops to nobody's uid and reports, one line each, whether a port
// below 1024 can be bound on the keeper and elsewhere.
func child() int {
	k := New()
	if err := k.Drop(65534, 65534, Needed()); err != nil {
		fmt.Println("drop:", err)
		return 1
	}
	bind := func() error {
		c, err := net.ListenPacket("udp4", "127.0.0.1:"+os.Getenv(childEnv))
		if err == nil {
			c.Close()
		}
		return err
	}
	fmt.Println("keeper:", k.Do(bind))
	fmt.Println("other:", bind())
	fmt.Printf("uid: %d %d\n", os.Getuid(), os.Geteuid())
	k.Do(func() error {
		b, err := os.ReadFile("/proc/thread-self/status")
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "CapBnd:") {
				fmt.Printf("keeper bounding: %s\n", strings.TrimSpace(strings.TrimPrefix(l, "CapBnd:")))
			}
		}
		return err
	})
	return 0
}

// After Drop, only functions run by the keeper can bind a privileged
// port; the process runs as the new user. verify (inside Drop) has already
// checked every thread's capability sets with capget.
func TestOnlyTheKeeperBindsLowPorts(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test needs root (it switches users); CI runs as root")
		}
		t.Skip("needs root")
	}
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		t.Fatal(err)
	}
	port := 1023
	if s := strings.TrimSpace(string(b)); s != "1024" {
		t.Fatalf("net.ipv4.ip_unprivileged_port_start is %s: port %d would need no privilege", s, port)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", childEnv, port))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	got := string(out)
	t.Logf("child:\n%s", got)
	// EADDRINUSE would also prove the privilege check passed, but a free
	// port is expected on loopback.
	if !strings.Contains(got, "keeper: <nil>\n") {
		t.Errorf("the keeper could not bind port %d", port)
	}
	if !strings.Contains(got, "other: listen udp4 127.0.0.1:1023: bind: permission denied\n") {
		t.Errorf("a thread other than the keeper was not refused the bind")
	}
	if want := fmt.Sprintf("keeper bounding: %016x\n", Needed()); !strings.Contains(got, want) {
		t.Errorf("want %q", want)
	}
	if !strings.Contains(got, "uid: 65534 65534\n") {
		t.Errorf("the process did not switch user")
	}
}
