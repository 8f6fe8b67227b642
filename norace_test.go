//go:build !race

package mailslot_test

const raceEnabled = false
