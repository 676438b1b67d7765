//! Syslog sink: RFC 3164 lines as datagrams to the local syslog socket
//! (`/dev/log`), the way glibc's `syslog(3)` does it (no HOSTNAME field:
//! the local daemon adds it).

use super::time::Utc;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Syslog facilities nvesecd may log to (RFC 3164 §4.1.1 codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facility {
    Daemon,
    Auth,
    Authpriv,
    Local(u8),
}

impl Facility {
    /// RFC 3164 facility code.
    pub fn code(self) -> u8 {
        match self {
            Facility::Daemon => 3,
            Facility::Auth => 4,
            Facility::Authpriv => 10,
            Facility::Local(n) => 16 + n.min(7),
        }
    }

    /// Parse a charon `syslog.<facility>` name (`daemon`, `auth`, `authpriv`, `local0`..`local7`).
    pub fn from_name(s: &str) -> Option<Facility> {
        match s {
            "daemon" => Some(Facility::Daemon),
            "auth" => Some(Facility::Auth),
            "authpriv" => Some(Facility::Authpriv),
            _ => {
                let n: u8 = s.strip_prefix("local")?.parse().ok()?;
                (n <= 7).then_some(Facility::Local(n))
            }
        }
    }
}

/// RFC 3164 severity for a slog level.
pub(crate) fn severity(level: slog::Level) -> u8 {
    match level {
        slog::Level::Critical => 2,
        slog::Level::Error => 3,
        slog::Level::Warning => 4,
        slog::Level::Info => 6,
        slog::Level::Debug | slog::Level::Trace => 7,
    }
}

/// Format one RFC 3164 message: `<PRI>Mmm dd hh:mm:ss ident[pid]: msg`.
pub(crate) fn format_line(
    facility: Facility,
    sev: u8,
    now: SystemTime,
    ident: &str,
    pid: u32,
    msg: &str,
) -> String {
    let pri = u16::from(facility.code()) * 8 + u16::from(sev);
    let stamp = Utc::from_system(now).rfc3164();
    format!("<{pri}>{stamp} {ident}[{pid}]: {msg}")
}

/// An unconnected datagram socket that sends to the syslog path. Sending
/// is best effort: a missing syslog daemon must not stop nvesecd.
pub(crate) struct SyslogWriter {
    sock: UnixDatagram,
    path: PathBuf,
    pub(crate) facility: Facility,
    pub(crate) ident: String,
}

impl SyslogWriter {
    pub(crate) fn new(path: &Path, facility: Facility, ident: &str) -> std::io::Result<Self> {
        let sock = UnixDatagram::unbound()?;
        // Never block the logging thread on a stalled syslog daemon.
        sock.set_nonblocking(true)?;
        Ok(SyslogWriter {
            sock,
            path: path.to_owned(),
            facility,
            ident: ident.to_owned(),
        })
    }

    pub(crate) fn send(&self, sev: u8, msg: &str) {
        let line = format_line(
            self.facility,
            sev,
            SystemTime::now(),
            &self.ident,
            std::process::id(),
            msg,
        );
        let _ = self.sock.send_to(line.as_bytes(), &self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3164_line() {
        let t = UNIX_EPOCH + Duration::from_secs(1_735_779_845);
        assert_eq!(
            format_line(Facility::Daemon, 6, t, "nvesecd", 42, "08[IKE] <gw|1> up"),
            "<30>Jan  2 01:04:05 nvesecd[42]: 08[IKE] <gw|1> up"
        );
        assert_eq!(Facility::from_name("local7"), Some(Facility::Local(7)));
        assert_eq!(Facility::from_name("local8"), None);
        assert_eq!(
            Facility::Authpriv.code() * 8 + severity(slog::Level::Error),
            83
        );
    }

    #[test]
    fn sends_datagram() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let rx = UnixDatagram::bind(&path).unwrap();
        let w = SyslogWriter::new(&path, Facility::Local(0), "nvesecd").unwrap();
        w.send(3, "hello");
        let mut buf = [0u8; 256];
        let n = rx.recv(&mut buf).unwrap();
        let s = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(s.starts_with("<131>"), "{s}");
        assert!(
            s.ends_with(&format!(" nvesecd[{}]: hello", std::process::id())),
            "{s}"
        );
    }
}
