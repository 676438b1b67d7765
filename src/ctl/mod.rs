//! Control plane plumbing: the control socket protocol ([`proto`]), a
//! reusable non-blocking server ([`server`]), the blocking client used by
//! `nvesecctl` ([`client`]) and swanctl-style text renderers ([`format`]).

pub mod client;
pub mod fixtures;
pub mod format;
pub mod proto;
pub mod server;
