#!/bin/sh
# A 30-second tour. As root: a remote write between two network namespaces
# (two "hosts" joined by a veth pair, each running `mailslot agent`).
# Otherwise: create a local mailslot, send it messages, list it, read them.
set -eu
ms=${1:-mailslot}
case $ms in /*) ;; */*) ms=$(pwd)/$ms ;; esac

local_demo() {
	slot='\\.\mailslot\demo\status'
	"$ms" listen "$slot" --count 3 &
	listener=$!
	# Wait for the slot to exist.
	i=0
	until "$ms" ls | grep -q 'demo'; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.05; done
	"$ms" ls
	"$ms" send "$slot" hello from the demo
	printf 'line one\nline two\n' | "$ms" send --lines "$slot"
	wait $listener
	echo "demo done: the listener printed three messages and removed its slot"
}

network_demo() {
	a=msdemo$$a b=msdemo$$b
	cleanup() {
		for ns in $a $b; do
			for pid in $(ip netns pids $ns 2>/dev/null); do kill $pid 2>/dev/null || true; done
			ip netns del $ns 2>/dev/null || true
		done
	}
	trap cleanup EXIT INT TERM
	echo "== two hosts: namespace $a (ALPHA, 192.0.2.1) and $b (BRAVO, 192.0.2.2), one veth pair"
	ip netns add $a; ip netns add $b
	ip -n $a link add eth0 type veth peer name eth0 netns $b
	ip -n $a addr add 192.0.2.1/24 brd 192.0.2.255 dev eth0
	ip -n $b addr add 192.0.2.2/24 brd 192.0.2.255 dev eth0
	for ns in $a $b; do ip -n $ns link set lo up; ip -n $ns link set eth0 up; done
	echo "== mailslot agent on each host"
	ip netns exec $a "$ms" agent --name ALPHA --workgroup DEMO --interface eth0 2>/dev/null &
	ip netns exec $b "$ms" agent --name BRAVO --workgroup DEMO --interface eth0 2>/dev/null &
	i=0
	until ip netns exec $a "$ms" lookup BRAVO >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 150 ] || { echo "BRAVO never resolved" >&2; exit 1; }; sleep 0.2; done
	echo "== on ALPHA: mailslot lookup BRAVO"
	ip netns exec $a "$ms" lookup BRAVO
	printf '%s\n' '== on BRAVO: mailslot listen --allow-remote --json --count 2 \\.\mailslot\demo\inbox'
	ip netns exec $b "$ms" listen --allow-remote --json --count 2 '\\.\mailslot\demo\inbox' &
	listener=$!
	sleep 0.5
	printf '%s\n' '== on ALPHA: mailslot send \\BRAVO\mailslot\demo\inbox hello from ALPHA'
	ip netns exec $a "$ms" send '\\BRAVO\mailslot\demo\inbox' hello from ALPHA
	printf '%s\n' '== on ALPHA: mailslot send \\*\mailslot\demo\inbox hello everyone   (broadcast to the workgroup)'
	ip netns exec $a "$ms" send '\\*\mailslot\demo\inbox' hello everyone
	wait $listener
	echo "== on BRAVO: mailslot names"
	ip netns exec $b "$ms" names
	echo "demo done: BRAVO's slot got a remote write and a broadcast from ALPHA (sender name, ip, port 138)"
}

if [ "$(id -u)" = 0 ] && command -v ip >/dev/null 2>&1; then
	network_demo
else
	echo "(not root: showing the local demo; run make demo as root for a remote write between two network namespaces)"
	local_demo
fi
