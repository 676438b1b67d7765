//! The keying socket server (DESIGN.md "Keying socket"): a Unix stream socket, mode 0600
//! (root only), JSON lines as [`crate::keying`] encodes them. Each request line gets one reply
//! line; events (ACQUIRE, EXPIRE) go to every connected client. A client that disconnects
//! changes nothing: installed GSAs keep working and a new client can DUMP.

use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use std::collections::HashMap;
use std::fs::{self, DirBuilder, Permissions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
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
}

#[derive(Debug)]
struct Client {
    stream: UnixStream,
    /// Partial request line; it may hold key hex, hence zeroized.
    rbuf: Zeroizing<Vec<u8>>,
    wbuf: Vec<u8>,
    writable_armed: bool,
}

impl KeyingServer {
    /// Bind `path` (replacing a stale socket), mode 0600, and register the listener. Client
    /// tokens are allocated from `first_client_token` upwards.
    pub fn bind(
        path: &Path,
        registry: &Registry,
        listener_token: Token,
        first_client_token: usize,
    ) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
            }
        }
        match fs::remove_file(path) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut listener = UnixListener::bind(path)?;
        fs::set_permissions(path, Permissions::from_mode(0o600))?;
        registry.register(&mut listener, listener_token, Interest::READABLE)?;
        Ok(KeyingServer {
            listener,
            path: path.to_path_buf(),
            clients: HashMap::new(),
            listener_token,
            next_token: first_client_token,
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

    /// Accept every pending connection.
    pub fn accept(&mut self, registry: &Registry) -> io::Result<()> {
        loop {
            let (mut stream, _) = match self.listener.accept() {
                Ok(c) => c,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            };
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
