//! Behaviours the README and DESIGN.md promise, each shown over real HTTP against a real
//! `hookgate serve` (the list of promises and their tests is in docs/testing.md).
