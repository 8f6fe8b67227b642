//go:build linux && !race

package transport

const raceEnabled = false
