package queue

import (
	"fmt"
	"math"
)

// Bounds on what a broker may plausibly answer. A figure outside them is
// not data: the read that carried it fails with ErrInvalidResponse, so that
// the workloads on that broker hold instead of acting on it.
const (
	// maxCount bounds a message or consumer count, and a cumulative
	// counter: 2^40 is about 10^12, far beyond what one queue holds or
	// what a counter reaches in a broker's lifetime.
	maxCount = 1 << 40
	// maxPages bounds a management listing: 1,000 pages of 500 are
	// 500,000 queues. A page_count beyond it is refused before any page
	// past the first is asked for.
	maxPages = 1000
)

// checkCount says what is wrong with a count the broker reported for field,
// or nil when it is plausible: not negative, and not beyond maxCount.
func checkCount(field string, v int64) error {
	switch {
	case v < 0:
		return fmt.Errorf("%s is %d, a negative count", field, v)
	case v > maxCount:
		return fmt.Errorf("%s is %d, beyond any plausible count (%d)", field, v, int64(maxCount))
	}
	return nil
}

// checkSample is checkCount for a Prometheus sample, which may also be NaN
// or infinite.
func checkSample(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%s is %v, not a count", field, v)
	}
	if v < 0 || v > maxCount {
		return checkCount(field, int64(v))
	}
	return nil
}
