//! Geneve security dataplane core (seed 004; DESIGN.md): Geneve codec, GSP DB, GSA DB,
//! GSO seal/open, anti-replay, lifetimes, ACQUIRE/hold queue, counters, keying codec.
//!
//! Sans-IO: nothing here opens a socket, reads the clock or sleeps. The `gsa-dp` daemon's I/O
//! (tun/tap, UDP, keying socket) drives [`Dataplane`]:
//!
//! - [`Dataplane::outbound`] / [`Dataplane::inbound`] per packet;
//! - then [`Dataplane::poll_transmit`] and [`Dataplane::poll_event`] until `None`;
//! - [`Dataplane::next_deadline`] to arm a timer, [`Dataplane::handle_timeout`] when it fires;
//! - [`keying::decode_request`] + [`Dataplane::handle_request`] for keying-socket lines.
//!
//! Module map: [`wire`] (typed views: Geneve, GSO, inner headers), [`gsp`] (policies),
//! [`gsa`] (security associations), [`idmap`] (u32-keyed maps of the packet path), [`seal`] (GEO/GAO), [`aead`] (ring and RustCrypto
//! AES-GCM behind one trait), [`replay`], [`lifetime`], [`acquire`], [`counters`],
//! [`engine`], [`keying`], [`limits`], [`fuzzing`] (entry points for fuzz targets),
//! [`offload`] (tun TSO segmentation and GRO-like coalescing, pure), [`io`] (the daemon).
#![forbid(unsafe_code)]

pub mod acquire;
pub mod aead;
pub mod counters;
pub mod engine;
pub mod fuzzing;
pub mod gsa;
pub mod gsp;
pub mod idmap;
pub mod io;
pub mod keying;
pub mod lifetime;
pub mod limits;
pub mod offload;
pub mod replay;
pub mod seal;
pub mod wire;

pub use engine::{
    Dataplane, DataplaneConfig, Event, InVerdict, InboundOpened, InboundStart, OutVerdict,
    Prepared, Transmit,
};

/// The examples in docs/dataplane.md are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/dataplane.md")]
pub struct DataplaneDocTests;
