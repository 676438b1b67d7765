//! nvesecd, the IKE daemon (docs/daemon.md): the `conf` model is translated into the IKE
//! engine's configuration and gsa-dp's policies and routes ([`translate`]), credentials come
//! from the swanctl-like tree beside the configuration ([`creds`]); one mio loop ([`run`])
//! drives the sans-IO engine with UDP 500/4500 ([`ike_io`]), installs GSAs in gsa-dp over
//! the keying socket ([`dp_client`], [`gsa_table`]) and answers nvesecctl ([`ctl_handler`]).

pub mod creds;
pub mod ctl_handler;
pub mod dp_client;
pub mod gsa_table;
pub mod ike_io;
pub mod netdev;
pub mod run;
pub mod signals;
pub mod state;
pub mod translate;

use std::path::PathBuf;
use std::time::Duration;

pub use run::{run, DaemonError};

/// Default keying socket of gsa-dp.
pub const DEFAULT_DP_SOCKET: &str = "/run/nvesec/dp.sock";
/// Default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/nvesec/nvesec.conf";

/// How the daemon runs (command-line options).
#[derive(Debug, Clone)]
pub struct Options {
    pub config: PathBuf,
    pub dp_socket: PathBuf,
    pub ctl_socket: PathBuf,
    /// Group (besides root) allowed on the control socket (0660) and to read the log file
    /// (0640); `None`: root only.
    pub ctl_group: Option<String>,
    /// IKE port (500) and NAT-T port (4500).
    pub ike_port: u16,
    pub natt_port: u16,
    /// charon level -1..4 for every subsystem.
    pub log_level: i8,
    pub log_file: Option<PathBuf>,
    /// How long SIGTERM waits for the peers to confirm the deletes.
    pub shutdown_wait: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config: DEFAULT_CONFIG.into(),
            dp_socket: DEFAULT_DP_SOCKET.into(),
            ctl_socket: crate::ctl::proto::DEFAULT_SOCKET.into(),
            ctl_group: None,
            ike_port: 500,
            natt_port: 4500,
            log_level: 1,
            log_file: None,
            shutdown_wait: Duration::from_secs(1),
        }
    }
}
