//! Geneve security dataplane: Geneve codec, GSP DB, GSA DB, GSO seal/open,
//! anti-replay and lifetimes (seed 004), plus the `gsa-dp` daemon's I/O.
#![forbid(unsafe_code)]
