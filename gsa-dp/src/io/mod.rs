//! The I/O half of `gsa-dp` (the daemon): tun/tap devices, the Geneve UDP socket, the keying
//! socket and the mio loop that drives the sans-IO [`crate::Dataplane`]. Everything here is
//! thin: packets go straight into the engine and its verdicts straight onto the wire.
//! The only `unsafe` (the TUNSETIFF and TUNSETOFFLOAD ioctls) lives in the `nvesec-sys` crate.

pub mod batch;
pub mod daemon;
pub mod keying_server;
pub mod local_socket;
pub mod routes;
pub mod tun;
pub mod udp;

pub use daemon::{Daemon, DaemonConfig, DaemonError};
