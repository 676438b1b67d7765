//! Keying-socket client (nvesecd -> gsa-dp), using `nvesec-gsa-dp`'s own codec.
//!
//! Requests are synchronous (gsa-dp answers from its event loop within microseconds): the
//! socket is switched to blocking with a timeout for the round trip, and events that arrive
//! before the reply are queued. Between requests the socket is non-blocking and registered in
//! the daemon's poll for ACQUIRE/EXPIRE events. A lost connection is reported; the caller
//! reconnects on a timer and resynchronises (DUMP).

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nvesec_gsa_dp::keying::{self, Reply, Request, RequestMsg};
use nvesec_gsa_dp::Event;
use zeroize::Zeroizing;

/// How long one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum DpError {
    #[error("not connected to gsa-dp")]
    NotConnected,
    #[error("keying socket {0}: {1}")]
    Io(PathBuf, io::Error),
    #[error("gsa-dp closed the keying socket")]
    Closed,
    #[error("gsa-dp refused {op}: {msg}")]
    Refused { op: &'static str, msg: String },
    #[error("bad line from gsa-dp: {0}")]
    Protocol(String),
}

/// Connection to gsa-dp.
#[derive(Debug)]
pub struct DpClient {
    path: PathBuf,
    stream: Option<UnixStream>,
    rbuf: Vec<u8>,
    seq: u64,
    events: VecDeque<Event>,
    token: Token,
}

fn op_name(r: &Request) -> &'static str {
    match r {
        Request::AddGsa(_) => "ADD_GSA",
        Request::UpdateGsa { .. } => "UPDATE_GSA",
        Request::DelGsa(_) => "DEL_GSA",
        Request::SetGsp(_) => "SET_GSP",
        Request::SetRoutes(_) => "SET_ROUTES",
        Request::Flush => "FLUSH",
        Request::Dump => "DUMP",
        Request::Stats => "STATS",
    }
}

impl DpClient {
    pub fn new(path: &Path, token: Token) -> Self {
        DpClient {
            path: path.to_path_buf(),
            stream: None,
            rbuf: Vec::new(),
            seq: 0,
            events: VecDeque::new(),
            token,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_connected(&self) -> bool {
        self.stream.is_some()
    }

    /// Connect and register for events.
    pub fn connect(&mut self, reg: &Registry) -> Result<(), DpError> {
        self.disconnect(reg);
        let io = |e| DpError::Io(self.path.clone(), e);
        let s = UnixStream::connect(&self.path).map_err(io)?;
        s.set_nonblocking(true).map_err(io)?;
        reg.register(
            &mut SourceFd(&s.as_raw_fd()),
            self.token,
            Interest::READABLE,
        )
        .map_err(io)?;
        self.rbuf.clear();
        self.stream = Some(s);
        Ok(())
    }

    pub fn disconnect(&mut self, reg: &Registry) {
        if let Some(s) = self.stream.take() {
            let _ = reg.deregister(&mut SourceFd(&s.as_raw_fd()));
        }
    }

    /// One request and its reply; a refusal is an error.
    pub fn request(&mut self, reg: &Registry, req: Request) -> Result<Reply, DpError> {
        let op = op_name(&req);
        let r = self.round_trip(req);
        if matches!(r, Err(DpError::Io(..) | DpError::Closed)) {
            self.disconnect(reg);
        }
        let reply = r?;
        if reply.ok {
            Ok(reply)
        } else {
            Err(DpError::Refused {
                op,
                msg: reply.error.unwrap_or_default(),
            })
        }
    }

    fn round_trip(&mut self, req: Request) -> Result<Reply, DpError> {
        let path = self.path.clone();
        let io = |e| DpError::Io(path.clone(), e);
        self.seq += 1;
        let seq = self.seq;
        let mut line: Zeroizing<String> = keying::encode_request(&RequestMsg { seq, req });
        line.push('\n');
        let s = self.stream.as_mut().ok_or(DpError::NotConnected)?;
        s.set_nonblocking(false).map_err(io)?;
        s.set_read_timeout(Some(REQUEST_TIMEOUT)).map_err(io)?;
        s.set_write_timeout(Some(REQUEST_TIMEOUT)).map_err(io)?;
        let res = (|| {
            match s.write_all(line.as_bytes()) {
                Ok(()) => {}
                // gsa-dp closes a connection it refuses (peer credentials) at once; the
                // reason is waiting to be read.
                Err(e) if e.kind() == ErrorKind::BrokenPipe => {}
                Err(e) => return Err(io(e)),
            }
            loop {
                while let Some(l) = take_line(&mut self.rbuf) {
                    if let Some(reply) = classify(&l, &mut self.events)? {
                        // seq 0: an error gsa-dp could not tie to a request, such as
                        // "permission denied" for the connection.
                        if reply.seq == seq || (reply.seq == 0 && !reply.ok) {
                            return Ok(reply);
                        }
                    }
                }
                let mut chunk = [0u8; 16384];
                match s.read(&mut chunk) {
                    Ok(0) => return Err(DpError::Closed),
                    Ok(n) => self.rbuf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(io(e)),
                }
            }
        })();
        if let Some(s) = self.stream.as_ref() {
            let _ = s.set_nonblocking(true);
        }
        res
    }

    /// Read what is waiting (after a readiness event); events are queued. `Err(Closed)` when
    /// gsa-dp went away.
    pub fn on_readable(&mut self, reg: &Registry) -> Result<(), DpError> {
        let r = self.read_available();
        if r.is_err() {
            self.disconnect(reg);
        }
        r
    }

    fn read_available(&mut self) -> Result<(), DpError> {
        let path = self.path.clone();
        let Some(s) = self.stream.as_mut() else {
            return Ok(());
        };
        let mut chunk = [0u8; 16384];
        loop {
            match s.read(&mut chunk) {
                Ok(0) => return Err(DpError::Closed),
                Ok(n) => self.rbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(DpError::Io(path, e)),
            }
        }
        while let Some(l) = take_line(&mut self.rbuf) {
            // A stray reply (timed-out request) is dropped.
            classify(&l, &mut self.events)?;
        }
        Ok(())
    }

    /// Next queued ACQUIRE/EXPIRE.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

fn take_line(buf: &mut Vec<u8>) -> Option<String> {
    let i = buf.iter().position(|b| *b == b'\n')?;
    let line: Vec<u8> = buf.drain(..=i).collect();
    Some(String::from_utf8_lossy(&line[..i]).into_owned())
}

/// An event goes to the queue, a reply is returned.
fn classify(line: &str, events: &mut VecDeque<Event>) -> Result<Option<Reply>, DpError> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    if line.contains("\"event\"") {
        let e = keying::decode_event(line).map_err(|e| DpError::Protocol(e.to_string()))?;
        events.push_back(e);
        return Ok(None);
    }
    keying::decode_reply(line)
        .map(Some)
        .map_err(|e| DpError::Protocol(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nvesec_gsa_dp::{Dataplane, DataplaneConfig};
    use std::io::{BufRead, BufReader};
    use std::os::unix::net::UnixListener;
    use std::time::Instant;

    /// A gsa-dp stand-in on a thread: answers with the real `Dataplane::handle_request`,
    /// and sends an EXPIRE event before the reply to the first request.
    fn serve(listener: UnixListener) {
        std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            let mut w = s.try_clone().unwrap();
            let mut dp = Dataplane::new(DataplaneConfig::default());
            let mut first = true;
            for line in BufReader::new(s).lines() {
                let line = line.unwrap();
                if first {
                    first = false;
                    writeln!(w, r#"{{"v":1,"event":"EXPIRE","dir":"in","gsa_id":7,"reqid":3,"kind":"soft"}}"#).unwrap();
                }
                let reply = match keying::decode_request(&line) {
                    Ok(m) => dp.handle_request(Instant::now(), m),
                    Err(e) => Reply::from_decode_error(&e),
                };
                writeln!(w, "{}", keying::encode_reply(&reply)).unwrap();
            }
        });
    }

    #[test]
    fn requests_replies_and_events() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("dp.sock");
        serve(UnixListener::bind(&path).unwrap());
        let poll = mio::Poll::new().unwrap();
        let mut c = DpClient::new(&path, Token(5));
        c.connect(poll.registry()).unwrap();
        let r = c.request(poll.registry(), Request::Dump).unwrap();
        assert_eq!(r.dump.unwrap().gsas.len(), 0);
        // The event that came before the reply is queued.
        match c.poll_event() {
            Some(Event::Expire { gsa_id, reqid, .. }) => assert_eq!((gsa_id, reqid), (7, 3)),
            other => panic!("{other:?}"),
        }
        let e = c
            .request(
                poll.registry(),
                Request::DelGsa(nvesec_gsa_dp::gsa::GsaKey::inbound(9, 1)),
            )
            .unwrap_err();
        assert!(matches!(e, DpError::Refused { op: "DEL_GSA", .. }), "{e}");
        assert!(c.is_connected());
    }

    #[test]
    fn refused_connection_says_why() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("dp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let poll = mio::Poll::new().unwrap();
        let mut c = DpClient::new(&path, Token(5));
        c.connect(poll.registry()).unwrap();
        // What gsa-dp's keying server does with a refused peer: one line, then close
        // (before our request: it is written into a closed socket).
        let (mut s, _) = listener.accept().unwrap();
        let refusal = Reply::error(0, "permission denied: uid 7 gid 7 pid 1 refused");
        writeln!(s, "{}", keying::encode_reply(&refusal)).unwrap();
        drop(s);
        let e = c.request(poll.registry(), Request::Dump).unwrap_err();
        assert_eq!(
            e.to_string(),
            "gsa-dp refused DUMP: permission denied: uid 7 gid 7 pid 1 refused"
        );
    }

    #[test]
    fn not_connected_is_an_error() {
        let poll = mio::Poll::new().unwrap();
        let mut c = DpClient::new(Path::new("/nonexistent/dp.sock"), Token(5));
        assert!(c.connect(poll.registry()).is_err());
        assert!(matches!(
            c.request(poll.registry(), Request::Stats),
            Err(DpError::NotConnected)
        ));
    }
}
