//! The keying socket server (DESIGN.md "Keying socket"): a Unix stream socket, mode 0600
//! (root only), or 0660 with `--keying-group`, created and checked as [`super::local_socket`]
//! describes (every client's `SO_PEERCRED` too), JSON lines as [`crate::keying`] encodes them. Each request line gets one reply
//! line; events (ACQUIRE, EXPIRE) go to every connected client. A client that disconnects
//! changes nothing: installed GSAs keep working and a new client can DUMP.

use super::local_socket::{self, Access, Refused};
use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use std::collections::HashMap;
use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Default socket path.
pub const DEFAULT_PATH: &str = "/run/nvesec/dp.sock";
/// A client whose unread replies/events exceed this is disconnected (it stopped reading).
const MAX_PENDING: usize = 8 << 20;

/// The listener plus its connected clients.
#[derive(Debug)]
pub struct KeyingServer {
    listener: UnixListener,
    path: PathBuf,
    clients: HashMap<Token, Client>,
    listener_token: Token,
    next_token: usize,
    access: Access,
    /// Connections refused since start, and those not yet taken by [`Self::take_refused`].
    refused_total: u64,
    refused: Vec<Refused>,
}

/// Refusals kept for [`KeyingServer::take_refused`]; a flood beyond this is only counted.
const MAX_REFUSED_KEPT: usize = 64;

#[derive(Debug)]
struct Client {
    stream: UnixStream,
    /// Partial request line; it may hold key hex, hence zeroized.
    rbuf: Zeroizing<Vec<u8>>,
    wbuf: Vec<u8>,
    writable_armed: bool,
}

impl KeyingServer {
    /// Bind `path` (replacing a stale socket) for `access` (mode 0600, or 0660 with a group)
    /// and register the listener. Client tokens are allocated from `first_client_token`
    /// upwards.
    pub fn bind(
        path: &Path,
        access: Access,
        registry: &Registry,
        listener_token: Token,
        first_client_token: usize,
    ) -> io::Result<Self> {
        let std_listener = local_socket::bind(path, &access)?;
        std_listener.set_nonblocking(true)?;
        let mut listener = UnixListener::from_std(std_listener);
        registry.register(&mut listener, listener_token, Interest::READABLE)?;
        Ok(KeyingServer {
            listener,
            path: path.to_path_buf(),
            clients: HashMap::new(),
            listener_token,
            next_token: first_client_token,
            access,
            refused_total: 0,
            refused: Vec::new(),
        })
    }

    pub fn listener_token(&self) -> Token {
        self.listener_token
    }

    pub fn is_client(&self, t: Token) -> bool {
        self.clients.contains_key(&t)
    }

    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// Connections refused (peer credentials) since start.
    pub fn refused_total(&self) -> u64 {
        self.refused_total
    }

    /// The refusals since the last call, for the log (at most [`MAX_REFUSED_KEPT`]; the
    /// total is [`Self::refused_total`]).
    pub fn take_refused(&mut self) -> Vec<Refused> {
        std::mem::take(&mut self.refused)
    }

    /// Accept every pending connection; those whose peer [`Access`] refuses get one error
    /// reply (so `gsa-dp ctl` and nvesecd can say why) and are closed.
    pub fn accept(&mut self, registry: &Registry) -> io::Result<()> {
        loop {
            let (mut stream, _) = match self.listener.accept() {
                Ok(c) => c,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            };
            if let Err(r) = self.access.check(&stream) {
                let reply = crate::keying::Reply::error(0, format!("permission denied: {r}"));
                let mut line = crate::keying::encode_reply(&reply);
                line.push('\n');
                local_socket::refuse(&mut stream, line.as_bytes());
                self.refused_total += 1;
                if self.refused.len() < MAX_REFUSED_KEPT {
                    self.refused.push(r);
                }
                continue;
            }
            let token = Token(self.next_token);
            self.next_token += 1;
            registry.register(&mut stream, token, Interest::READABLE)?;
            self.clients.insert(
                token,
                Client {
                    stream,
                    rbuf: Zeroizing::new(Vec::with_capacity(4096)),
                    wbuf: Vec::new(),
                    writable_armed: false,
                },
            );
        }
    }

    /// Service a client event: read its complete lines, answer each with `handle(line)`, and
    /// flush. A client that closed, erred or sent an over-long line is dropped.
    pub fn client_ready(
        &mut self,
        registry: &Registry,
        token: Token,
        handle: &mut dyn FnMut(&str) -> String,
    ) {
        let Some(c) = self.clients.get_mut(&token) else {
            return;
        };
        let keep = c.read_lines(handle) && c.flush(registry, token);
        if !keep {
            self.drop_client(registry, token);
        }
    }

    /// Send an event line to every client.
    pub fn broadcast(&mut self, registry: &Registry, line: &str) {
        let mut dead = Vec::new();
        for (t, c) in self.clients.iter_mut() {
            c.wbuf.extend_from_slice(line.as_bytes());
            c.wbuf.push(b'\n');
            if !c.flush(registry, *t) {
                dead.push(*t);
            }
        }
        for t in dead {
            self.drop_client(registry, t);
        }
    }

    fn drop_client(&mut self, registry: &Registry, token: Token) {
        if let Some(mut c) = self.clients.remove(&token) {
            let _ = registry.deregister(&mut c.stream);
        }
    }
}

impl Drop for KeyingServer {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

impl Client {
    /// Returns false when the client is gone or broke the protocol.
    fn read_lines(&mut self, handle: &mut dyn FnMut(&str) -> String) -> bool {
        let mut chunk = Zeroizing::new([0u8; 4096]);
        loop {
            match self.stream.read(&mut chunk[..]) {
                Ok(0) => return false,
                Ok(n) => self.rbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
            self.answer_complete_lines(handle);
            if self.rbuf.len() > crate::keying::MAX_LINE {
                let e = crate::keying::Reply::error(0, "line too long");
                self.wbuf
                    .extend_from_slice(crate::keying::encode_reply(&e).as_bytes());
                self.wbuf.push(b'\n');
                let _ = self.stream.write_all(&self.wbuf);
                return false;
            }
        }
        self.answer_complete_lines(handle);
        true
    }

    fn answer_complete_lines(&mut self, handle: &mut dyn FnMut(&str) -> String) {
        while let Some(nl) = self.rbuf.iter().position(|&b| b == b'\n') {
            let reply = {
                let line = &self.rbuf[..nl];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                match std::str::from_utf8(line) {
                    Ok(l) if l.trim().is_empty() => None,
                    Ok(l) => Some(handle(l)),
                    Err(_) => Some(crate::keying::encode_reply(&crate::keying::Reply::error(
                        0,
                        "bad request: not UTF-8",
                    ))),
                }
            };
            // Drain with zeroization of the consumed bytes (they may be key hex).
            for b in self.rbuf[..=nl].iter_mut() {
                *b = 0;
            }
            self.rbuf.drain(..=nl);
            if let Some(r) = reply {
                self.wbuf.extend_from_slice(r.as_bytes());
                self.wbuf.push(b'\n');
            }
        }
    }

    /// Write what we can; arm WRITABLE interest for the rest. False when the client is gone
    /// or stopped reading.
    fn flush(&mut self, registry: &Registry, token: Token) -> bool {
        while !self.wbuf.is_empty() {
            match self.stream.write(&self.wbuf) {
                Ok(0) => return false,
                Ok(n) => {
                    self.wbuf.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        if self.wbuf.len() > MAX_PENDING {
            return false;
        }
        let want = !self.wbuf.is_empty();
        if want != self.writable_armed {
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if registry
                .reregister(&mut self.stream, token, interest)
                .is_err()
            {
                return false;
            }
            self.writable_armed = want;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::local_socket::tests::{
        client_as, never_seen_wider, open_tempdir, socket_mode, NOBODY,
    };
    use mio::{Events, Poll};
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    const LISTENER: Token = Token(0);

    fn bind(path: &Path, access: Access, poll: &Poll) -> KeyingServer {
        KeyingServer::bind(path, access, poll.registry(), LISTENER, 1).unwrap()
    }

    /// Serve until `done`, answering every line with `{"ok":true}`.
    fn serve_until(
        poll: &mut Poll,
        server: &mut KeyingServer,
        done: impl Fn(&KeyingServer) -> bool,
    ) {
        let mut events = Events::with_capacity(16);
        for _ in 0..1000 {
            poll.poll(&mut events, Some(Duration::from_millis(10)))
                .unwrap();
            for ev in events.iter() {
                if ev.token() == LISTENER {
                    server.accept(poll.registry()).unwrap();
                } else {
                    server.client_ready(poll.registry(), ev.token(), &mut |_| {
                        "{\"ok\":true}".to_string()
                    });
                }
            }
            if done(server) {
                return;
            }
        }
        panic!("condition not reached");
    }

    #[test]
    fn socket_is_0600_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/dp.sock");
        let poll = Poll::new().unwrap();
        drop(bind(&path, Access::root_only(), &poll));
        // The bind and the final mode are one step: a watcher never sees the socket (under
        // any name) with the mode bind gives it under the umask.
        never_seen_wider(&path, 0o600, || {
            let s = bind(&path, Access::root_only(), &poll);
            assert_eq!(socket_mode(&path), (0o600, 0, 0));
            drop(s);
        });
        let _s = bind(&path, Access::with_gid("nogroup", NOBODY), &poll);
        assert_eq!(socket_mode(&path), (0o660, 0, NOBODY));
    }

    #[test]
    fn non_root_peer_refused_root_and_group_accepted() {
        let dir = open_tempdir();
        let path = dir.path().join("dp.sock");
        let mut poll = Poll::new().unwrap();
        let mut server = bind(&path, Access::root_only(), &poll);
        // Even a socket whose mode an admin widened serves root only.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        let child = client_as(
            NOBODY,
            NOBODY,
            &path,
            "{\"v\":1,\"seq\":1,\"op\":\"STATS\"}",
        );
        serve_until(&mut poll, &mut server, |s| s.refused_total() == 1);
        let out = child.wait_with_output().unwrap();
        let out = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            out.lines().last(),
            Some("EOF"),
            "refused client must be closed: {out}"
        );
        assert!(
            out.starts_with("{\"v\":1,\"seq\":0,\"ok\":false,\"error\":\"permission denied: uid 65534 gid 65534 pid "),
            "{out}"
        );
        assert!(!out.contains("\"ok\":true"), "{out}");
        let refused = server.take_refused();
        assert_eq!(refused.len(), 1);
        assert_eq!(
            refused[0].peer.map(|p| (p.uid, p.gid)),
            Some((NOBODY, NOBODY))
        );
        assert_eq!(server.clients(), 0);

        // Root is served.
        let root = std::os::unix::net::UnixStream::connect(&path).unwrap();
        root.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (&root).write_all(b"{}\n").unwrap();
        serve_until(&mut poll, &mut server, |s| s.clients() == 1);
        let mut line = String::new();
        let mut r = BufReader::new(&root);
        // The reply may come with the accept's event or the next one.
        while line.is_empty() {
            serve_until(&mut poll, &mut server, |_| true);
            let _ = r.read_line(&mut line);
        }
        assert_eq!(line, "{\"ok\":true}\n");
        drop(server);

        // With a group, its members (by primary gid) are served through the 0660 socket.
        let mut server = bind(&path, Access::with_gid("nogroup", NOBODY), &poll);
        let child = client_as(NOBODY, NOBODY, &path, "{}");
        serve_until(&mut poll, &mut server, |s| s.clients() == 1);
        // Closing our end of the child's connection ends its read loop.
        let tokens: Vec<Token> = server.clients.keys().copied().collect();
        serve_until(&mut poll, &mut server, |s| {
            s.clients.values().all(|c| c.wbuf.is_empty())
        });
        for t in tokens {
            server.drop_client(poll.registry(), t);
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "{\"ok\":true}\nEOF\n"
        );
        assert_eq!(server.refused_total(), 0);
    }
}
