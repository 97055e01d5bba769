//go:build race

package sandbox

// raceEnabled: the race detector multiplies memory use, so RSS bounds do not
// hold under it.
const raceEnabled = true
