package spannerstore

// WithStreamHook sets a function the change stream reader calls at the
// "start" of each run and before each partition "query"; an error it
// returns fails that run, as a failed query would. For tests.
func WithStreamHook(fn func(stage string) error) Option {
	return func(s *Store) { s.streamHook = fn }
}
