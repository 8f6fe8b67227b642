#!/bin/sh
# A 30-second tour: create a mailslot, send it messages, list it, read them.
set -eu
ms=${1:-mailslot}
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
