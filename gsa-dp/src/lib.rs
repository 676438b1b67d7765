//! Geneve security dataplane: Geneve codec, GSP DB, GSA DB, GSO seal/open,
//! anti-replay and lifetimes (seed 004), plus the `gsa-dp` daemon's I/O.
#![forbid(unsafe_code)]
pub mod acquire;
pub mod aead;
pub mod counters;
pub mod engine;
pub mod gsa;
pub mod gsp;
pub mod lifetime;
pub mod limits;
pub mod replay;
pub mod seal;
pub mod wire;
pub use engine::{Dataplane, DataplaneConfig, Event, InVerdict, OutVerdict, Transmit};
pub mod fuzzing;
pub mod keying;
