//! Test plugin, version B of a plugin built twice (see `../version-a/src/plugin.rs`):
//! pre-call stamps the last message with `[version-b]`, post-call-success adds
//! `x-plugin-version: version-b`.

include!("../../version-a/src/plugin.rs");
