//! Test plugin, version A of a plugin built twice (see `plugin.rs`): pre-call stamps the
//! last message with `[version-a]`, post-call-success adds `x-plugin-version: version-a`.

include!("plugin.rs");
