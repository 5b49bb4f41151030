package lro

// WithoutTelemetry makes a Manager that calls no instrument and starts no
// span: the uninstrumented baseline of the benchmarks.
func WithoutTelemetry() Option { return withoutTelemetry() }
