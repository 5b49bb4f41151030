package lroclient

import "time"

// WithClock makes Wait read the time for WithRetryLimit from now.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}
