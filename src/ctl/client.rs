//! A small blocking client for the control socket (used by `nvesecctl`;
//! Rust programs may use it too).

use super::proto::{
    self, Command, ErrorBody, ErrorCode, Event, Reply, Request, Response, ServerMessage,
    DEFAULT_SOCKET, SOCKET_ENV,
};
use std::io::{self, BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The socket path: explicit flag, else `$NVESEC_CTL_SOCKET`, else the default.
pub fn socket_path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_owned)
        .or_else(|| std::env::var_os(SOCKET_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// Client failures.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{}", connect_message(path, source))]
    Connect { path: PathBuf, source: io::Error },
    #[error("control socket I/O: {0}")]
    Io(#[from] io::Error),
    #[error("daemon closed the connection")]
    Closed,
    #[error("malformed message from daemon: {0}")]
    Protocol(String),
    #[error("{}", .0.message)]
    Daemon(ErrorBody),
}

fn connect_message(path: &Path, e: &io::Error) -> String {
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => {
            format!("cannot connect to {}: is nvesecd running?", path.display())
        }
        ErrorKind::PermissionDenied => {
            format!(
                "cannot connect to {}: permission denied (run as root)",
                path.display()
            )
        }
        _ => format!("cannot connect to {}: {e}", path.display()),
    }
}

/// A connection to nvesecd.
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
}

impl Client {
    /// Connect to the control socket at `path`.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.to_owned(),
            source,
        })?;
        let writer = stream.try_clone()?;
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
            next_id: 1,
        })
    }

    /// Limit how long a read may block (`None` = forever).
    pub fn set_timeout(&self, t: Option<Duration>) -> Result<(), ClientError> {
        self.writer.set_read_timeout(t)?;
        Ok(())
    }

    /// Send `command`; return its request id.
    pub fn send(&mut self, command: Command) -> Result<u64, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        self.write(&proto::encode_request(&Request { id, command }))?;
        Ok(id)
    }

    /// Send a raw line (tests of the framing; the newline is added).
    pub fn send_raw(&mut self, line: &[u8]) -> Result<(), ClientError> {
        self.write(&[line, b"\n"].concat())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        match self.writer.write_all(bytes) {
            Ok(()) => Ok(()),
            // A refused client is closed at once, maybe before we wrote: the
            // daemon's reason is waiting to be read (a bare EPIPE would read
            // as "stdout closed" to nvesecctl).
            Err(e) if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => {
                match self.recv() {
                    Ok(ServerMessage::Response(r)) => match r.into_result() {
                        Err(body) => Err(ClientError::Daemon(body)),
                        Ok(_) => Err(e.into()),
                    },
                    _ => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Read the next message.
    pub fn recv(&mut self) -> Result<ServerMessage, ClientError> {
        let mut line = Vec::new();
        let n = self.reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(ClientError::Closed);
        }
        proto::parse_message(line.trim_ascii_end())
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Read messages until the response to `id` (events in between are
    /// dropped). A refusal of the connection (id `null`, code
    /// `permission-denied`) is the daemon's error.
    pub fn response(&mut self, id: u64) -> Result<Response, ClientError> {
        loop {
            if let ServerMessage::Response(r) = self.recv()? {
                if r.id == Some(id) {
                    return Ok(r);
                }
                if r.id.is_none() {
                    if let Some(e) = r.error.filter(|e| e.code == ErrorCode::PermissionDenied) {
                        return Err(ClientError::Daemon(e));
                    }
                }
            }
        }
    }

    /// Send `command` and wait for its response (which may be an error body).
    pub fn call_response(&mut self, command: Command) -> Result<Response, ClientError> {
        let id = self.send(command)?;
        self.response(id)
    }

    /// Send `command` and return its reply, or the daemon's error.
    pub fn call(&mut self, command: Command) -> Result<Reply, ClientError> {
        self.call_response(command)?
            .into_result()
            .map_err(ClientError::Daemon)
    }

    /// Wait for the next event.
    pub fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            if let ServerMessage::Event(e) = self.recv()? {
                return Ok(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_is_the_daemons_error_even_after_epipe() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let refusal = Response::error(None, ErrorCode::PermissionDenied, "permission denied: x");
        let refusal = proto::encode_message(&ServerMessage::Response(refusal));
        for write_first in [true, false] {
            let mut client = Client::connect(&path).unwrap();
            if write_first {
                client.send(Command::Version).unwrap();
            }
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(&refusal).unwrap();
            drop(s);
            // Writing first: the refusal has no id but is the answer. Writing
            // after the daemon closed: EPIPE, then the refusal is read.
            let e = if write_first {
                client.response(1).map(|_| ())
            } else {
                client.call(Command::Version).map(|_| ())
            };
            match e {
                Err(ClientError::Daemon(b)) => {
                    assert_eq!(b.code, ErrorCode::PermissionDenied);
                    assert_eq!(b.message, "permission denied: x");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
