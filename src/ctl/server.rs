//! A reusable, non-blocking control socket server for nvesecd's mio loop.
//!
//! Design choice: a component that registers itself in the daemon's own
//! [`mio::Poll`] under a contiguous token range and is driven by
//! [`ControlServer::on_event`] (the daemon keeps one loop and one thread;
//! nothing here blocks):
//!
//! ```text
//! base            the listening socket
//! base + 1        the waker of the log feed (records from any thread)
//! base + 2 + i    client connection slot i, i < max_clients
//! ```
//!
//! Requests are parsed with [`proto::parse_request`]; framing errors get an
//! error response and the connection stays usable. `log` and `subscribe`
//! are served here (subscriptions live with the connection); every other
//! command goes to the daemon's [`ControlHandler`]. Output is buffered per
//! client; a client whose buffer exceeds `max_output` (it is not reading
//! its log stream) is disconnected instead of stalling the daemon.
//!
//! Access: the socket is created and every client's `SO_PEERCRED` checked as
//! gsa-dp's [`local_socket`] describes (root, our own uid, or a configured
//! group by primary gid). A refused client gets one `permission-denied`
//! error response (id `null`) and is closed; the daemon logs
//! [`ControlServer::take_refused`].

use super::proto::{
    self, Command, ErrorCode, Event, EventBody, EventKind, Reply, Request, Response, ServerMessage,
    MAX_LINE,
};
use crate::log::LogFeedRx;
use mio::net::{UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use nvesec_gsa_dp::io::local_socket::{self, Access, Refused};
use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Identifies a connected client for a deferred [`ControlServer::respond`].
/// The generation makes a stale id (client gone, slot reused) harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientId {
    slot: usize,
    generation: u64,
}

/// What the daemon implements to answer requests.
pub trait ControlHandler {
    /// Answer one request. The server overwrites the response's `id` with
    /// the request's, so handlers may use `Response::ok(req.id, ..)` freely.
    /// `log` and `subscribe` never reach the handler.
    fn handle(&mut self, req: Request) -> Response;

    /// Like [`handle`](Self::handle), but may return `None` and answer later
    /// with [`ControlServer::respond`] (e.g. `initiate` waiting for the IKE
    /// exchange). The default answers at once.
    fn handle_deferred(&mut self, req: Request, client: ClientId) -> Option<Response> {
        let _ = client;
        Some(self.handle(req))
    }
}

/// Limits of a [`ControlServer`].
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Connections beyond this are refused (also fixes the token range).
    pub max_clients: usize,
    /// Bytes of unsent output after which a client is dropped.
    pub max_output: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_clients: 64,
            max_output: 4 << 20,
        }
    }
}

struct Conn {
    stream: UnixStream,
    generation: u64,
    inbuf: Vec<u8>,
    /// An oversized line was answered; skip bytes up to its newline.
    discarding: bool,
    out: Vec<u8>,
    /// `log` subscription: request id and level.
    log_sub: Option<(u64, i8)>,
    /// Other subscriptions: kind and request id.
    subs: Vec<(EventKind, u64)>,
    closed: bool,
}

/// The control socket server. See the module docs for the token layout.
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    /// (dev, ino) of the socket file we created, to remove only our own.
    file_id: Option<(u64, u64)>,
    limits: ServerLimits,
    base: Token,
    conns: Vec<Option<Conn>>,
    generation: u64,
    feed: Option<LogFeedRx>,
    waker: Option<Arc<Waker>>,
    dropped_slow: u64,
    access: Access,
    /// Clients refused since start, and those not yet taken by [`Self::take_refused`].
    refused_total: u64,
    refused: Vec<Refused>,
}

/// Refusals kept for [`ControlServer::take_refused`]; a flood beyond this is only counted.
const MAX_REFUSED_KEPT: usize = 64;

impl ControlServer {
    /// Create the socket at `path`, mode 0600 (root only), with default limits.
    ///
    /// The socket is bound in a private directory, given its mode there and
    /// renamed into place ([`local_socket::bind`]), so it is never reachable
    /// with looser permissions. An existing socket that still accepts
    /// connections means another daemon runs: that is an `AddrInUse` error.
    /// A stale one is replaced.
    pub fn bind(path: &Path) -> io::Result<ControlServer> {
        ControlServer::bind_with(path, ServerLimits::default())
    }

    /// [`bind`](Self::bind) with explicit limits.
    pub fn bind_with(path: &Path, limits: ServerLimits) -> io::Result<ControlServer> {
        ControlServer::bind_with_access(path, limits, Access::root_only())
    }

    /// [`bind_with`](Self::bind_with) for `access`: with a group the socket
    /// is 0660 and the group's, and its members are served.
    pub fn bind_with_access(
        path: &Path,
        limits: ServerLimits,
        access: Access,
    ) -> io::Result<ControlServer> {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                ErrorKind::AddrInUse,
                format!("{} is in use: is nvesecd already running?", path.display()),
            ));
        }
        let std_listener = local_socket::bind(path, &access)?;
        std_listener.set_nonblocking(true)?;
        let file_id = fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
        Ok(ControlServer {
            listener: UnixListener::from_std(std_listener),
            path: path.to_owned(),
            file_id,
            limits,
            base: Token(0),
            conns: Vec::new(),
            generation: 0,
            feed: None,
            waker: None,
            dropped_slow: 0,
            access,
            refused_total: 0,
            refused: Vec::new(),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of tokens [`register`](Self::register) reserves from `base`.
    pub fn token_span(&self) -> usize {
        2 + self.limits.max_clients
    }

    /// Feed `log` subscribers from this channel (see [`crate::log::feed_channel`]).
    pub fn attach_log_feed(&mut self, rx: LogFeedRx) {
        if let Some(w) = &self.waker {
            rx.set_waker(w.clone());
        }
        self.feed = Some(rx);
        self.update_feed_level();
    }

    /// Register the listener and the log waker in `registry`, using tokens
    /// `base .. base + token_span()`.
    pub fn register(&mut self, registry: &Registry, base: Token) -> io::Result<()> {
        self.base = base;
        registry.register(&mut self.listener, base, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(registry, Token(base.0 + 1))?);
        if let Some(feed) = &self.feed {
            feed.set_waker(waker.clone());
        }
        self.waker = Some(waker);
        Ok(())
    }

    /// Is this token in our range?
    pub fn owns(&self, token: Token) -> bool {
        token.0 >= self.base.0 && token.0 < self.base.0 + self.token_span()
    }

    /// Connected clients.
    pub fn client_count(&self) -> usize {
        self.conns.iter().flatten().count()
    }

    /// Clients dropped because they did not read their output.
    pub fn dropped_slow_clients(&self) -> u64 {
        self.dropped_slow
    }

    /// Clients refused (peer credentials) since start.
    pub fn refused_total(&self) -> u64 {
        self.refused_total
    }

    /// The refusals since the last call, for the log (at most 64; the
    /// total is [`refused_total`](Self::refused_total)).
    pub fn take_refused(&mut self) -> Vec<Refused> {
        std::mem::take(&mut self.refused)
    }

    /// Handle one readiness event for a token we [`own`](Self::owns).
    pub fn on_event(
        &mut self,
        registry: &Registry,
        event: &mio::event::Event,
        handler: &mut dyn ControlHandler,
    ) {
        let t = event.token().0.wrapping_sub(self.base.0);
        match t {
            0 => self.accept_all(registry),
            1 => self.pump_log_feed(registry),
            n if n >= 2 && n - 2 < self.limits.max_clients => {
                let slot = n - 2;
                if event.is_readable() || event.is_read_closed() {
                    self.read_conn(slot, handler);
                }
                self.flush_conn(slot);
                self.reap(registry, slot);
            }
            _ => {}
        }
    }

    /// Send a deferred response. Returns false if the client is gone.
    pub fn respond(&mut self, registry: &Registry, client: ClientId, resp: Response) -> bool {
        let alive = matches!(self.conns.get(client.slot), Some(Some(c)) if c.generation == client.generation);
        if alive {
            self.queue(client.slot, &ServerMessage::Response(resp));
            self.flush_conn(client.slot);
            self.reap(registry, client.slot);
        }
        alive
    }

    /// Send an event to every client subscribed to its kind.
    pub fn broadcast(&mut self, registry: &Registry, body: &EventBody) {
        let kind = body.kind();
        for slot in 0..self.conns.len() {
            let ids: Vec<u64> = match &self.conns[slot] {
                Some(c) => subscriber_ids(c, kind, body),
                None => continue,
            };
            for id in ids {
                let ev = ServerMessage::Event(Event {
                    id,
                    body: body.clone(),
                });
                self.queue(slot, &ev);
            }
            self.flush_conn(slot);
            self.reap(registry, slot);
        }
    }

    /// Run a self-contained poll loop until `stop` is set (tests, tools;
    /// the daemon embeds the server in its own loop instead).
    pub fn run(&mut self, handler: &mut dyn ControlHandler, stop: &AtomicBool) -> io::Result<()> {
        let mut poll = Poll::new()?;
        self.register(poll.registry(), Token(0))?;
        let mut events = Events::with_capacity(64);
        while !stop.load(Ordering::Relaxed) {
            match poll.poll(&mut events, Some(Duration::from_millis(50))) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for ev in events.iter() {
                self.on_event(poll.registry(), ev, handler);
            }
        }
        Ok(())
    }

    fn accept_all(&mut self, registry: &Registry) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => self.add_conn(registry, stream),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // ECONNABORTED, EMFILE...: try again on the next event.
                Err(_) => return,
            }
        }
    }

    fn add_conn(&mut self, registry: &Registry, mut stream: UnixStream) {
        if let Err(r) = self.access.check(&stream) {
            let msg = Response::error(
                None,
                ErrorCode::PermissionDenied,
                format!("nvesecd: permission denied: {r}"),
            );
            local_socket::refuse(
                &mut stream,
                &proto::encode_message(&ServerMessage::Response(msg)),
            );
            self.refused_total += 1;
            if self.refused.len() < MAX_REFUSED_KEPT {
                self.refused.push(r);
            }
            return;
        }
        let slot = match self.conns.iter().position(Option::is_none) {
            Some(s) => s,
            None if self.conns.len() < self.limits.max_clients => {
                self.conns.push(None);
                self.conns.len() - 1
            }
            None => {
                let msg = Response::error(None, ErrorCode::Failed, "too many control clients");
                let _ = stream.write_all(&proto::encode_message(&ServerMessage::Response(msg)));
                return;
            }
        };
        let token = Token(self.base.0 + 2 + slot);
        if registry
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .is_err()
        {
            return;
        }
        self.generation += 1;
        self.conns[slot] = Some(Conn {
            stream,
            generation: self.generation,
            inbuf: Vec::new(),
            discarding: false,
            out: Vec::new(),
            log_sub: None,
            subs: Vec::new(),
            closed: false,
        });
    }

    fn read_conn(&mut self, slot: usize, handler: &mut dyn ControlHandler) {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let Some(conn) = self.conns[slot].as_mut() else {
                return;
            };
            match conn.stream.read(&mut buf) {
                Ok(0) => {
                    conn.closed = true;
                    return;
                }
                Ok(n) => {
                    conn.inbuf.extend_from_slice(&buf[..n]);
                    self.process_lines(slot, handler);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    conn.closed = true;
                    return;
                }
            }
        }
    }

    fn process_lines(&mut self, slot: usize, handler: &mut dyn ControlHandler) {
        loop {
            let Some(conn) = self.conns[slot].as_mut() else {
                return;
            };
            let Some(nl) = conn.inbuf.iter().position(|&b| b == b'\n') else {
                if conn.inbuf.len() > MAX_LINE {
                    conn.inbuf.clear();
                    if !conn.discarding {
                        conn.discarding = true;
                        let r = proto::ParseError::LineTooLong.to_response();
                        self.queue(slot, &ServerMessage::Response(r));
                    }
                }
                return;
            };
            let mut line: Vec<u8> = conn.inbuf.drain(..=nl).collect();
            line.pop();
            if std::mem::take(&mut conn.discarding) {
                continue;
            }
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.handle_line(slot, &line, handler);
        }
    }

    fn handle_line(&mut self, slot: usize, line: &[u8], handler: &mut dyn ControlHandler) {
        let req = match proto::parse_request(line) {
            Ok(r) => r,
            Err(e) => {
                self.queue(slot, &ServerMessage::Response(e.to_response()));
                return;
            }
        };
        let id = req.id;
        let reply = match &req.command {
            Command::Log { level } => self.subscribe(slot, id, &[EventKind::Log], *level),
            Command::Subscribe { events } => {
                let events = events.clone();
                self.subscribe(slot, id, &events, 1)
            }
            _ => {
                let Some(generation) = self.conns[slot].as_ref().map(|c| c.generation) else {
                    return;
                };
                let client = ClientId { slot, generation };
                match handler.handle_deferred(req, client) {
                    Some(mut r) => {
                        r.id = Some(id);
                        r
                    }
                    None => return,
                }
            }
        };
        self.queue(slot, &ServerMessage::Response(reply));
    }

    fn subscribe(&mut self, slot: usize, id: u64, kinds: &[EventKind], level: i8) -> Response {
        let Some(conn) = self.conns[slot].as_mut() else {
            return Response::error(Some(id), ErrorCode::Failed, "client gone");
        };
        for &k in kinds {
            if k == EventKind::Log {
                conn.log_sub = Some((id, level));
            } else {
                conn.subs.push((k, id));
            }
        }
        self.update_feed_level();
        Response::ok(
            id,
            Reply::Subscribed {
                events: kinds.to_vec(),
            },
        )
    }

    fn update_feed_level(&self) {
        if let Some(feed) = &self.feed {
            let max = self
                .conns
                .iter()
                .flatten()
                .filter(|c| !c.closed)
                .filter_map(|c| c.log_sub.map(|(_, l)| l))
                .max();
            feed.set_max_level(max);
        }
    }

    fn pump_log_feed(&mut self, registry: &Registry) {
        let records = match &self.feed {
            Some(f) => f.drain(),
            None => return,
        };
        for rec in records {
            self.broadcast_log(rec);
        }
        for slot in 0..self.conns.len() {
            self.flush_conn(slot);
            self.reap(registry, slot);
        }
    }

    fn broadcast_log(&mut self, rec: crate::ctl::proto::LogRecord) {
        let body = EventBody::Log(rec);
        for slot in 0..self.conns.len() {
            let ids = match &self.conns[slot] {
                Some(c) => subscriber_ids(c, EventKind::Log, &body),
                None => continue,
            };
            for id in ids {
                let ev = ServerMessage::Event(Event {
                    id,
                    body: body.clone(),
                });
                self.queue(slot, &ev);
            }
        }
    }

    fn queue(&mut self, slot: usize, msg: &ServerMessage) {
        let max = self.limits.max_output;
        if let Some(conn) = self.conns[slot].as_mut() {
            if conn.closed {
                return;
            }
            conn.out.extend_from_slice(&proto::encode_message(msg));
            if conn.out.len() > max {
                // Not reading: drop it rather than buffer without bound.
                conn.closed = true;
                self.dropped_slow += 1;
            }
        }
    }

    fn flush_conn(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        while !conn.out.is_empty() && !conn.closed {
            match conn.stream.write(&conn.out) {
                Ok(0) => conn.closed = true,
                Ok(n) => {
                    conn.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => conn.closed = true,
            }
        }
    }

    fn reap(&mut self, registry: &Registry, slot: usize) {
        let closed = matches!(self.conns.get(slot), Some(Some(c)) if c.closed);
        if closed {
            if let Some(mut conn) = self.conns[slot].take() {
                let _ = registry.deregister(&mut conn.stream);
            }
            self.update_feed_level();
        }
    }
}

/// Request ids under which `conn` wants `body`.
fn subscriber_ids(conn: &Conn, kind: EventKind, body: &EventBody) -> Vec<u64> {
    if conn.closed {
        return Vec::new();
    }
    if let EventBody::Log(rec) = body {
        return conn
            .log_sub
            .filter(|&(_, lvl)| rec.level <= lvl)
            .map(|(id, _)| id)
            .into_iter()
            .collect();
    }
    conn.subs
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|&(_, id)| id)
        .collect()
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        // Remove the socket only if it is still the one we created (a new
        // daemon may already have replaced it).
        let still_ours = fs::metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()))
            .is_some_and(|id| Some(id) == self.file_id);
        if still_ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    /// Defers `initiate`, answers everything else at once.
    #[derive(Default)]
    struct Deferring {
        pending: Option<(ClientId, u64)>,
    }

    impl ControlHandler for Deferring {
        fn handle(&mut self, req: Request) -> Response {
            Response::ok(req.id, Reply::Done { messages: vec![] })
        }
        fn handle_deferred(&mut self, req: Request, client: ClientId) -> Option<Response> {
            if let Command::Initiate { .. } = req.command {
                self.pending = Some((client, req.id));
                return None;
            }
            // A wrong id from the handler is corrected by the server.
            Some(Response::ok(999, Reply::Done { messages: vec![] }))
        }
    }

    fn poll_until(
        poll: &mut Poll,
        server: &mut ControlServer,
        h: &mut Deferring,
        done: impl Fn(&ControlServer, &Deferring) -> bool,
    ) {
        let mut events = Events::with_capacity(16);
        for _ in 0..200 {
            poll.poll(&mut events, Some(Duration::from_millis(10)))
                .unwrap();
            for ev in events.iter() {
                assert!(server.owns(ev.token()));
                server.on_event(poll.registry(), ev, h);
            }
            if done(server, h) {
                return;
            }
        }
        panic!("condition not reached");
    }

    #[test]
    fn deferred_response_and_token_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let mut server = ControlServer::bind(&path).unwrap();
        let mut poll = Poll::new().unwrap();
        server.register(poll.registry(), Token(100)).unwrap();
        assert!(server.owns(Token(100)) && server.owns(Token(165)));
        assert!(!server.owns(Token(99)) && !server.owns(Token(166)));
        let mut h = Deferring::default();

        let client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut w = client.try_clone().unwrap();
        let mut r = BufReader::new(client);
        w.write_all(b"{\"id\":5,\"command\":\"initiate\",\"child\":\"net\"}\n{\"id\":6,\"command\":\"stats\"}\n")
            .unwrap();
        poll_until(&mut poll, &mut server, &mut h, |_, h| h.pending.is_some());
        // The later request was answered first, with its own id.
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert_eq!(
            line,
            "{\"type\":\"response\",\"id\":6,\"status\":\"ok\",\"reply\":{\"done\":{\"messages\":[]}}}\n"
        );
        let (cid, id) = h.pending.unwrap();
        let resp = Response::error(Some(id), ErrorCode::Timeout, "peer did not answer");
        assert!(server.respond(poll.registry(), cid, resp));
        line.clear();
        r.read_line(&mut line).unwrap();
        assert_eq!(
            line,
            "{\"type\":\"response\",\"id\":5,\"status\":\"error\",\"error\":{\"code\":\"timeout\",\"message\":\"peer did not answer\"}}\n"
        );
        // Once the client is gone, its id is stale.
        drop((w, r));
        poll_until(&mut poll, &mut server, &mut h, |s, _| s.client_count() == 0);
        let resp = Response::ok(id, Reply::Done { messages: vec![] });
        assert!(!server.respond(poll.registry(), cid, resp));
        drop(server);
        assert!(!path.exists(), "socket removed on drop");
    }

    fn mode_uid_gid(path: &Path) -> (u32, u32, u32) {
        use std::os::unix::fs::FileTypeExt;
        let m = fs::symlink_metadata(path).unwrap();
        assert!(m.file_type().is_socket() || m.file_type().is_dir());
        (m.mode() & 0o7777, m.uid(), m.gid())
    }

    #[test]
    fn socket_is_0600_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/ctl.sock");
        drop(ControlServer::bind(&path).unwrap());
        // The directory it had to create is root's alone too.
        assert_eq!(mode_uid_gid(&dir.path().join("run")), (0o700, 0, 0));

        // A watcher looking at every entry beside the socket while it is
        // created again and again never sees one with a wider mode (the old
        // temporary name had the umask's mode until it was chmod'ed).
        let parent = path.parent().unwrap().to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                use std::os::unix::fs::FileTypeExt;
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    for e in fs::read_dir(&parent).unwrap().flatten() {
                        if let Ok(m) = fs::symlink_metadata(e.path()) {
                            if m.file_type().is_socket() && m.mode() & 0o7777 != 0o600 {
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
            let server = ControlServer::bind(&path).unwrap();
            assert_eq!(mode_uid_gid(&path), (0o600, 0, 0));
            drop(server);
        }
        stop.store(true, Ordering::Relaxed);
        let seen = watcher.join().unwrap();
        assert!(seen.is_empty(), "sockets seen with wider modes: {seen:?}");

        // With a group: 0660 and the group's.
        let access = Access::with_gid("nogroup", 65534);
        let _s = ControlServer::bind_with_access(&path, ServerLimits::default(), access).unwrap();
        assert_eq!(mode_uid_gid(&path), (0o660, 0, 65534));
    }
}
