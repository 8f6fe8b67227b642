//go:build linux && race

package transport

// raceEnabled: the race detector adds allocations of its own.
const raceEnabled = true
