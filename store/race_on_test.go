//go:build race

package store

// raceEnabled: the race detector runs; sync.Pool drops some of what it
// keeps then, so allocation counts are not the ones of a normal build.
const raceEnabled = true
