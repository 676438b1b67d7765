//! Network-namespace harness: NVEs, strongSwan peers, impairments.
//! Needs root; the scenarios live in `interop/tests/`.
#![forbid(unsafe_code)]

pub mod attacker;
pub mod dataplane;
pub mod ike_driver;
pub mod netns;
pub mod nve;
pub mod strongswan;
pub mod topology;

pub use netns::{link, Netns};

/// Why a harness step failed; the message names the command and its stderr.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("cannot run {0}: {1}")]
    Spawn(String, std::io::Error),
    #[error("{cmd} exited with {status:?}: {stderr}")]
    Failed {
        cmd: String,
        status: Option<i32>,
        stderr: String,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("timed out: {0}")]
    Timeout(String),
}

/// The interop suite needs root for namespaces; it fails, never skips.
pub fn require_root() {
    let uid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .expect("run id -u");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "the interop suite needs root (network namespaces); run scripts/test.sh as root"
    );
}
