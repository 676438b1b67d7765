//! nvesec: the IKE daemon (`nvesecd`) and its control CLI (`nvesecctl`).
//!
//! - [`ctl`]: the control socket protocol, server component, client and
//!   text renderers (docs/cli.md).
//! - [`log`]: charon-style logging on slog.
//! - [`daemon`]: nvesecd itself (docs/daemon.md).
#![forbid(unsafe_code)]

pub mod ctl;
pub mod daemon;
pub mod log;
