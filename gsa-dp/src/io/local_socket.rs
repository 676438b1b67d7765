//! Local Unix sockets that only root (and optionally one group) may use: gsa-dp's keying
//! socket, and nvesecd's control socket, which shares this code.
//!
//! Creation is race-free without touching the process-wide umask (other threads may be
//! running): [`bind`] binds inside a fresh private directory (mode 0700), gives the socket its
//! final mode and group there, and renames it into place. Nobody else can reach the socket
//! before it has its final permissions; a stale socket at the path is replaced atomically.
//!
//! The file mode is the first fence; [`Access::check`] is the second, applied to every
//! accepted connection with `SO_PEERCRED`: root, the daemon's own uid, or (if configured) a
//! peer whose *primary* gid is the group. `SO_PEERCRED` carries only the primary gid, so a
//! user who is in the group through a supplementary membership is refused: such a client must
//! run with the group as its primary group (`sg GROUP -c ...`, `sudo -g GROUP`, systemd
//! `Group=`).

use nix::sys::socket::{getsockopt, sockopt};
use nix::unistd::{Group, Uid};
use std::fmt;
use std::fs::{self, DirBuilder, Permissions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Who may connect: root and the daemon's own uid always, and the members of `group`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Name (for messages) and gid.
    group: Option<(String, u32)>,
}

/// A group name that cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("group {0}: no such group")]
    UnknownGroup(String),
    #[error("group {0}: {1}")]
    Lookup(String, nix::Error),
}

/// Credentials of a connected peer (as of its `connect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    /// Primary gid only (see the module docs).
    pub gid: u32,
    pub pid: i32,
}

/// A connection [`Access::check`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// `None` when the credentials could not be read.
    pub peer: Option<Peer>,
    /// Who is allowed, for messages: `root` or `root or group NAME`.
    pub allowed: String,
}

impl fmt::Display for Refused {
    /// The log line (and the text the refused client is sent after "permission denied: ").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.peer {
            Some(p) => write!(
                f,
                "uid {} gid {} pid {} refused (allowed: {}; primary group only)",
                p.uid, p.gid, p.pid, self.allowed
            ),
            None => write!(
                f,
                "peer without credentials refused (allowed: {})",
                self.allowed
            ),
        }
    }
}

impl Access {
    /// Root (and the daemon's own uid) only: the default.
    pub fn root_only() -> Access {
        Access::default()
    }

    /// Also the group `name`, resolved now (`Group::from_name`).
    pub fn with_group(name: &str) -> Result<Access, AccessError> {
        match Group::from_name(name) {
            Ok(Some(g)) => Ok(Access::with_gid(name, g.gid.as_raw())),
            Ok(None) => Err(AccessError::UnknownGroup(name.to_owned())),
            Err(e) => Err(AccessError::Lookup(name.to_owned(), e)),
        }
    }

    /// Also the group `gid` (`name` is for messages).
    pub fn with_gid(name: &str, gid: u32) -> Access {
        Access {
            group: Some((name.to_owned(), gid)),
        }
    }

    /// The configured group's gid.
    pub fn gid(&self) -> Option<u32> {
        self.group.as_ref().map(|(_, gid)| *gid)
    }

    /// Socket (and file) mode: 0600, or 0660 with a group.
    pub fn mode(&self) -> u32 {
        if self.group.is_some() {
            0o660
        } else {
            0o600
        }
    }

    fn allowed(&self) -> String {
        match &self.group {
            Some((name, _)) => format!("root or group {name}"),
            None => "root".into(),
        }
    }

    /// Is this peer allowed?
    pub fn allows(&self, peer: &Peer) -> bool {
        // Our own uid could chmod the socket or ptrace us anyway (a daemon run unprivileged
        // with capabilities keeps working with its own tools).
        peer.uid == 0 || peer.uid == Uid::effective().as_raw() || self.gid() == Some(peer.gid)
    }

    /// Read the peer's credentials (`SO_PEERCRED`) and check them.
    pub fn check(&self, sock: &impl AsFd) -> Result<Peer, Refused> {
        let refused = |peer| Refused {
            peer,
            allowed: self.allowed(),
        };
        let cred = getsockopt(sock, sockopt::PeerCredentials).map_err(|_| refused(None))?;
        let peer = Peer {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
        };
        if self.allows(&peer) {
            Ok(peer)
        } else {
            Err(refused(Some(peer)))
        }
    }
}

/// Tell a refused peer why (`line`, best effort) and consume what it already sent, so that
/// closing leaves it a clean end of file: a Unix socket closed with unread data resets its
/// peer, which then may never read the explanation. `stream` must be non-blocking; at most
/// 64 KiB are read.
pub fn refuse(mut stream: impl Read + Write, line: &[u8]) {
    let _ = stream.write_all(line);
    let mut buf = [0u8; 4096];
    for _ in 0..16 {
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            _ => return,
        }
    }
}

/// Bind a listening socket at `path` with [`Access::mode`] (and the group), never reachable
/// with wider permissions (see the module docs). A missing parent directory is created 0700
/// (0750 and owned by the group with one). An existing socket at `path` is replaced: callers
/// that must not replace a live one check first.
pub fn bind(path: &Path, access: &Access) -> io::Result<UnixListener> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "socket path has no file name"))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.exists() {
        let mode = if access.gid().is_some() { 0o750 } else { 0o700 };
        DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(parent)?;
        if let Some(gid) = access.gid() {
            std::os::unix::fs::chown(parent, None, Some(gid))?;
        }
    }
    let private = PrivateDir::create(parent, &name.to_string_lossy())?;
    let tmp = private.0.join("s");
    let listener = UnixListener::bind(&tmp)?;
    fs::set_permissions(&tmp, Permissions::from_mode(access.mode()))?;
    if let Some(gid) = access.gid() {
        std::os::unix::fs::chown(&tmp, None, Some(gid))?;
    }
    fs::rename(&tmp, path)?;
    Ok(listener)
}

/// A mode 0700 directory beside the socket, removed (with what is left in it) on drop.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn create(parent: &Path, name: &str) -> io::Result<PrivateDir> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = parent.join(format!(".{name}.{}.{n}", std::process::id()));
            // Not recursive: an existing entry (left by a killed process with our pid) is
            // skipped, never reused.
            match DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(PrivateDir(dir)),
                Err(e) if e.kind() == ErrorKind::AlreadyExists && n < 1000 => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.0.join("s"));
        let _ = fs::remove_dir(&self.0);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    /// uid and gid of `nobody` / `nogroup` on Debian.
    pub(crate) const NOBODY: u32 = 65534;

    /// A temporary directory that `nobody` may traverse (tempdir makes it 0700).
    pub(crate) fn open_tempdir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), Permissions::from_mode(0o755)).unwrap();
        dir
    }

    /// A child run as `uid`/`gid` (no supplementary groups: std drops them) that connects to
    /// `path`, sends `line` and prints every byte it receives, then `EOF` (or `RESET`), or
    /// prints the connect error.
    pub(crate) fn client_as(uid: u32, gid: u32, path: &Path, line: &str) -> Child {
        let script = "import socket,sys\n\
            s=socket.socket(socket.AF_UNIX)\n\
            try:\n s.connect(sys.argv[1])\n\
            except OSError as e:\n print('connect:', e.strerror); sys.exit(0)\n\
            try:\n s.sendall(sys.argv[2].encode()+b'\\n')\n\
            except BrokenPipeError:\n pass\n\
            s.settimeout(10)\n\
            try:\n while True:\n  d=s.recv(4096)\n  if not d: break\n  sys.stdout.write(d.decode())\n\
            except ConnectionResetError:\n print('RESET'); sys.exit(0)\n\
            print('EOF')\n";
        Command::new("/usr/bin/python3")
            .args(["-c", script])
            .arg(path)
            .arg(line)
            .uid(uid)
            .gid(gid)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Mode and gid of the socket at `path`, checking it is one.
    pub(crate) fn socket_mode(path: &Path) -> (u32, u32, u32) {
        let m = fs::symlink_metadata(path).unwrap();
        assert!(m.file_type().is_socket());
        (m.mode() & 0o7777, m.uid(), m.gid())
    }

    /// Run `bind_once` (bind and drop a socket at `path`) many times while another thread
    /// looks at every entry of the parent directory: no socket may ever be seen there with a
    /// mode other than `mode`.
    pub(crate) fn never_seen_wider(path: &Path, mode: u32, mut bind_once: impl FnMut()) {
        let parent = path.parent().unwrap().to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let Ok(rd) = fs::read_dir(&parent) else {
                        continue;
                    };
                    for e in rd.flatten() {
                        if let Ok(m) = fs::symlink_metadata(e.path()) {
                            if m.file_type().is_socket() && m.mode() & 0o7777 != mode {
                                // A few are enough to show it.
                                if seen.len() < 5 {
                                    seen.push((e.file_name(), m.mode() & 0o7777));
                                }
                            }
                        }
                    }
                }
                seen
            })
        };
        for _ in 0..300 {
            bind_once();
        }
        stop.store(true, Ordering::Relaxed);
        let seen = watcher.join().unwrap();
        assert!(seen.is_empty(), "sockets seen with wider modes: {seen:?}");
    }

    #[test]
    fn bind_mode_group_and_private_dir() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/x.sock");
        let l = bind(&path, &Access::root_only()).unwrap();
        assert_eq!(socket_mode(&path), (0o600, 0, 0));
        let run = fs::metadata(dir.path().join("run")).unwrap();
        assert_eq!(run.mode() & 0o777, 0o700);
        // Only the socket is left beside it (the private directory is gone).
        let names: Vec<_> = fs::read_dir(dir.path().join("run"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["x.sock"]);
        drop(l);

        // A stale socket is replaced; with a group the socket is 0660 and the group's.
        let g = Access::with_gid("nogroup", NOBODY);
        let _l = bind(&path, &g).unwrap();
        assert_eq!(socket_mode(&path), (0o660, 0, NOBODY));
        let path = dir.path().join("grp/y.sock");
        let _l = bind(&path, &g).unwrap();
        let grp = fs::metadata(dir.path().join("grp")).unwrap();
        assert_eq!((grp.mode() & 0o777, grp.gid()), (0o750, NOBODY));
    }

    #[test]
    fn group_names_resolve() {
        assert_eq!(Access::with_group("root").unwrap().gid(), Some(0));
        assert!(matches!(
            Access::with_group("no-such-group-nvesec"),
            Err(AccessError::UnknownGroup(_))
        ));
        assert_eq!(Access::root_only().mode(), 0o600);
    }

    #[test]
    fn peer_credentials_checked() {
        let root = Peer {
            uid: 0,
            gid: 0,
            pid: 1,
        };
        let nobody = Peer {
            uid: NOBODY,
            gid: NOBODY,
            pid: 2,
        };
        assert!(Access::root_only().allows(&root));
        assert!(!Access::root_only().allows(&nobody));
        assert!(Access::with_gid("nogroup", NOBODY).allows(&nobody));
        // We are root: our own connection passes, with our pid.
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let me = Access::with_gid("nvesec", 5).check(&a).unwrap();
        assert_eq!((me.uid, me.pid), (0, std::process::id() as i32));
        let refused = Refused {
            peer: Some(nobody),
            allowed: Access::with_gid("nvesec", 5).allowed(),
        };
        assert_eq!(
            refused.to_string(),
            "uid 65534 gid 65534 pid 2 refused (allowed: root or group nvesec; primary group only)"
        );
    }
}
