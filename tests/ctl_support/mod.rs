//! Shared harness for the ctl_* integration tests: a control server with a
//! canned handler in a thread, on a socket in a temporary directory.
#![allow(dead_code)]

use nvesec::ctl::fixtures;
use nvesec::ctl::proto::*;
use nvesec::ctl::server::{ControlHandler, ControlServer, ServerLimits};
use nvesec::log::{feed_channel, LogFeed};
use nvesec_gsa_dp::io::local_socket::Access;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Answers from the fixtures, like a daemon with two IKE SAs would.
pub struct Canned;

impl ControlHandler for Canned {
    fn handle(&mut self, req: Request) -> Response {
        let id = req.id;
        let ok = |r| Response::ok(id, r);
        match req.command {
            Command::ListSas(f) => ok(Reply::ListSas {
                sas: fixtures::sas()
                    .into_iter()
                    .filter(|sa| f.matches_ike(sa))
                    .map(|mut sa| {
                        sa.children.retain(|c| f.matches_child(c));
                        sa
                    })
                    .collect(),
            }),
            Command::ListConns => ok(Reply::ListConns {
                conns: fixtures::conns(),
            }),
            Command::ListCerts => ok(Reply::ListCerts {
                certs: fixtures::certs(),
            }),
            Command::ListPols => ok(Reply::ListPols {
                policies: fixtures::pols(),
            }),
            Command::Stats => ok(Reply::Stats(fixtures::stats())),
            Command::Counters { .. } => ok(Reply::Counters(fixtures::counters())),
            Command::Version => ok(Reply::Version(fixtures::version())),
            Command::LoadAll | Command::LoadConns | Command::LoadCreds => {
                ok(Reply::Load(LoadReport {
                    conns_loaded: vec!["gw".into()],
                    ..LoadReport::default()
                }))
            }
            Command::Initiate { child, ike, .. } => {
                let name = child.or(ike).unwrap_or_default();
                if name == "net" || name == "gw" {
                    ok(Reply::Done {
                        messages: vec![format!("initiated '{name}'")],
                    })
                } else {
                    Response::error(
                        Some(id),
                        ErrorCode::NotFound,
                        format!("no config named '{name}'"),
                    )
                }
            }
            Command::Terminate { target, force, .. } => ok(Reply::Done {
                messages: vec![format!(
                    "terminated {:?} force={force}",
                    target.ike_id.unwrap_or(0)
                )],
            }),
            Command::Rekey { reauth, .. } => ok(Reply::Done {
                messages: vec![format!("rekey reauth={reauth}")],
            }),
            // The server answers these itself.
            Command::Log { .. } | Command::Subscribe { .. } => {
                Response::error(Some(id), ErrorCode::Failed, "reached the handler")
            }
        }
    }
}

/// A running test daemon (server thread); stopped on drop.
pub struct Daemon {
    pub path: PathBuf,
    pub feed: LogFeed,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<ControlServer>>,
    _dir: tempfile::TempDir,
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with(ServerLimits::default())
    }

    pub fn start_with(limits: ServerLimits) -> Daemon {
        Daemon::start_access(limits, Access::root_only())
    }

    /// In a temporary directory others may traverse (the `run/` directory the
    /// server creates is root's, or the group's with one).
    pub fn start_access(limits: ServerLimits, access: Access) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("run/ctl.sock");
        let mut server = ControlServer::bind_with_access(&path, limits, access).unwrap();
        let (feed, rx) = feed_channel(4096);
        server.attach_log_feed(rx);
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            server.run(&mut Canned, &stop2).unwrap();
            server
        });
        Daemon {
            path,
            feed,
            stop,
            thread: Some(thread),
            _dir: dir,
        }
    }
}

impl Daemon {
    /// Stop the server and hand it back (for its counters).
    pub fn stop(mut self) -> ControlServer {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Run nvesecctl with `--socket path` and `args`: (stdout, stderr, exit code).
pub fn ctl(path: &Path, args: &[&str]) -> (String, String, i32) {
    ctl_cmd(Proc::new(env!("CARGO_BIN_EXE_nvesecctl")), path, args)
}

/// [`ctl`] as `uid`/`gid` (std drops the supplementary groups).
pub fn ctl_as(uid: u32, gid: u32, path: &Path, args: &[&str]) -> (String, String, i32) {
    let mut cmd = Proc::new(env!("CARGO_BIN_EXE_nvesecctl"));
    cmd.uid(uid).gid(gid);
    ctl_cmd(cmd, path, args)
}

fn ctl_cmd(mut cmd: Proc, path: &Path, args: &[&str]) -> (String, String, i32) {
    let out = cmd
        .arg("--socket")
        .arg(path)
        .args(args)
        .env_remove("NVESEC_CTL_SOCKET")
        .output()
        .unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

/// Like [`ctl`] but expects success and returns stdout.
pub fn ctl_ok(path: &Path, args: &[&str]) -> String {
    let (out, err, code) = ctl(path, args);
    assert_eq!(code, 0, "nvesecctl {args:?} failed: {err}");
    assert_eq!(err, "", "stderr of {args:?}");
    out
}
