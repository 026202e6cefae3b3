//! Fuzzing the proxy's input and the plugins' output, bounded in count and time.
