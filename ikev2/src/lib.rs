//! Sans-IO IKEv2 engine (RFC 7296) with the GSA extension of nvesec.
//!
//! The engine never opens sockets, reads the clock or sleeps: it takes `now`
//! and datagrams, and returns datagrams, events and the next deadline.
#![forbid(unsafe_code)]

pub mod config;
pub mod crypto;
pub mod endpoint;
/// Whole-engine fuzzing with the null suite: test builds and the INSECURE `fuzzing` feature.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_null;
pub mod sa;
pub mod tombstone;
pub mod wire;
