//go:build linux && race

package netns

// raceEnabled builds the mailslot binary with the race detector too, so
// data races in the agent under real traffic fail the tests.
const raceEnabled = true
