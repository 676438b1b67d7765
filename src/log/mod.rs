//! Logging in charon's model (ecosystem.md §2.4 "Logging", §3 convention 8).
//!
//! - Subsystems ([`Subsystem`]): `dmn mgr ike gsa cfg net dp enc`, carried as
//!   the slog key `subsys` (use [`subsys`] to make a child logger).
//! - Levels -1 (silent) .. 4 (private), per subsystem and per sink
//!   ([`Levels`]). slog levels map to charon levels as Critical/Error/Warning
//!   = 0, Info = 1, Debug = 2, Trace = 3; a record or logger key `lvl`
//!   ([`KEY_LEVEL`]) overrides the mapping (e.g. `lvl => 0` for audit lines).
//! - The per-IKE-SA prefix `<conn|uid>` comes from the keys `ike` and
//!   `ike_uid` (use [`ike_sa`]).
//! - Sinks ([`SinkTarget`]): stderr, an appended file, syslog through
//!   `/dev/log`, each as text (`08[IKE] <gw|3> message`) or JSON (slog-json).
//! - The control socket's `log` subscribers are fed through a [`LogFeed`].
//!
//! Secrets never reach a sink: wrap anything sensitive in [`Redacted`].

mod drain;
mod feed;
mod redact;
mod syslog;
pub mod time;

pub use drain::Dispatcher;
pub use feed::{feed_channel, LogFeed, LogFeedRx};
pub use redact::Redacted;
pub use syslog::Facility;

use std::collections::BTreeMap;
use std::path::PathBuf;

/// slog key carrying the subsystem.
pub const KEY_SUBSYS: &str = "subsys";
/// slog key carrying the IKE SA connection name.
pub const KEY_IKE: &str = "ike";
/// slog key carrying the IKE SA unique id.
pub const KEY_IKE_UID: &str = "ike_uid";
/// slog key overriding the charon level of a record.
pub const KEY_LEVEL: &str = "lvl";

/// charon-style subsystems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subsystem {
    /// Daemon start-up, signals, control socket.
    Dmn,
    /// IKE SA manager (lookups, uniqueness).
    Mgr,
    /// IKE SA state machines and exchanges.
    Ike,
    /// GSA (CHILD_SA) negotiation and installation.
    Gsa,
    /// Configuration and credentials.
    Cfg,
    /// UDP 500/4500 I/O.
    Net,
    /// Keying socket to gsa-dp (ACQUIRE/EXPIRE).
    Dp,
    /// Message encoding and decoding.
    Enc,
}

impl Subsystem {
    /// All subsystems.
    pub const ALL: [Subsystem; 8] = [
        Subsystem::Dmn,
        Subsystem::Mgr,
        Subsystem::Ike,
        Subsystem::Gsa,
        Subsystem::Cfg,
        Subsystem::Net,
        Subsystem::Dp,
        Subsystem::Enc,
    ];

    /// Lower-case name (`ike`), used as config key and slog value.
    pub fn as_str(self) -> &'static str {
        match self {
            Subsystem::Dmn => "dmn",
            Subsystem::Mgr => "mgr",
            Subsystem::Ike => "ike",
            Subsystem::Gsa => "gsa",
            Subsystem::Cfg => "cfg",
            Subsystem::Net => "net",
            Subsystem::Dp => "dp",
            Subsystem::Enc => "enc",
        }
    }

    /// Parse the lower-case name.
    pub fn from_name(s: &str) -> Option<Subsystem> {
        Subsystem::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl slog::Value for Subsystem {
    fn serialize(
        &self,
        _record: &slog::Record<'_>,
        key: slog::Key,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        serializer.emit_str(key, self.as_str())
    }
}

/// Per-subsystem levels with a default (charon's `default = 1, ike = 2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Levels {
    pub default: i8,
    pub per_subsystem: BTreeMap<Subsystem, i8>,
}

impl Default for Levels {
    /// charon's default: level 1 everywhere.
    fn default() -> Levels {
        Levels::all(1)
    }
}

impl Levels {
    /// The same level for every subsystem.
    pub fn all(level: i8) -> Levels {
        Levels {
            default: level,
            per_subsystem: BTreeMap::new(),
        }
    }

    /// Set one subsystem's level (builder style).
    pub fn with(mut self, subsystem: Subsystem, level: i8) -> Levels {
        self.per_subsystem.insert(subsystem, level);
        self
    }

    /// Level in force for `subsystem`.
    pub fn get(&self, subsystem: Subsystem) -> i8 {
        *self.per_subsystem.get(&subsystem).unwrap_or(&self.default)
    }

    /// Highest level any subsystem logs at (lets the drain skip work early).
    pub fn max(&self) -> i8 {
        self.per_subsystem
            .values()
            .copied()
            .fold(self.default, i8::max)
    }
}

/// Where a sink writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkTarget {
    Stderr,
    /// charon `filelog.<name> { path, append, flush_line }`.
    ///
    /// A log names peers and addresses: a regular file is created 0600, or
    /// 0640 owned by `group`, and an existing one is set to that mode (and
    /// group) at every start, a warning saying what it was.
    File {
        path: PathBuf,
        /// Append (true) or truncate at start-up.
        append: bool,
        /// Flush after every line (default true: the file is read while we run).
        flush_line: bool,
        /// gid that may read the file (nvesecd's `--ctl-group`).
        group: Option<u32>,
    },
    /// charon `syslog.<facility>`: RFC 3164 datagrams to `socket` (`/dev/log`).
    Syslog {
        facility: Facility,
        socket: PathBuf,
        /// Tag, normally `nvesecd`.
        ident: String,
    },
}

/// Line format of a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `08[IKE] <gw|3> message`.
    Text,
    /// One JSON object per line (slog-json; charon's `json = yes`).
    Json,
}

/// One log sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkConfig {
    pub target: SinkTarget,
    pub levels: Levels,
    pub format: LogFormat,
    /// Print the `<conn|uid>` prefix (charon's `ike_name`, default yes here).
    pub ike_name: bool,
    /// Prefix text lines with an RFC 3339 UTC timestamp (charon's `time_format`).
    pub time: bool,
}

impl SinkConfig {
    /// A text sink to stderr at `level` for all subsystems, without timestamps
    /// (journald and terminals add their own).
    pub fn stderr(level: i8) -> SinkConfig {
        SinkConfig {
            target: SinkTarget::Stderr,
            levels: Levels::all(level),
            format: LogFormat::Text,
            ike_name: true,
            time: false,
        }
    }

    /// A timestamped text sink appending to `path`, flushed per line.
    pub fn file(path: impl Into<PathBuf>, level: i8) -> SinkConfig {
        SinkConfig {
            target: SinkTarget::File {
                path: path.into(),
                append: true,
                flush_line: true,
                group: None,
            },
            levels: Levels::all(level),
            format: LogFormat::Text,
            ike_name: true,
            time: true,
        }
    }

    /// A syslog sink on `/dev/log` with ident `nvesecd`.
    pub fn syslog(facility: Facility, level: i8) -> SinkConfig {
        SinkConfig {
            target: SinkTarget::Syslog {
                facility,
                socket: PathBuf::from("/dev/log"),
                ident: "nvesecd".into(),
            },
            levels: Levels::all(level),
            format: LogFormat::Text,
            ike_name: true,
            time: false,
        }
    }
}

/// The daemon's logging configuration (to be filled from the conf crate's
/// future `logging` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub sinks: Vec<SinkConfig>,
}

impl Default for LogConfig {
    /// One stderr text sink at level 1.
    fn default() -> LogConfig {
        LogConfig {
            sinks: vec![SinkConfig::stderr(1)],
        }
    }
}

/// Errors opening sinks.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open log file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create syslog socket: {0}")]
    Syslog(std::io::Error),
}

/// Build the root logger: all configured sinks plus, if given, the control
/// socket's log subscribers.
pub fn build_logger(cfg: &LogConfig, feed: Option<LogFeed>) -> Result<slog::Logger, LogError> {
    let (drain, notes) = Dispatcher::with_notes(cfg, feed)?;
    let log = slog::Logger::root(drain, slog::o!());
    for n in notes {
        slog::warn!(subsys(&log, Subsystem::Dmn), "{n}");
    }
    Ok(log)
}

/// Render a record the way text sinks do: `08[IKE] <gw|3> message`.
pub fn format_record(rec: &crate::ctl::proto::LogRecord) -> String {
    drain::format_text(rec.thread, rec, "", true)
}

/// A child logger for one subsystem.
pub fn subsys(log: &slog::Logger, subsystem: Subsystem) -> slog::Logger {
    log.new(slog::o!(KEY_SUBSYS => subsystem))
}

/// A child logger for one IKE SA: lines get the `<name|uid>` prefix.
pub fn ike_sa(log: &slog::Logger, name: &str, uid: u32) -> slog::Logger {
    log.new(slog::o!(KEY_IKE => name.to_owned(), KEY_IKE_UID => uid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_per_subsystem() {
        let l = Levels::all(1)
            .with(Subsystem::Ike, 3)
            .with(Subsystem::Net, -1);
        assert_eq!(l.get(Subsystem::Ike), 3);
        assert_eq!(l.get(Subsystem::Net), -1);
        assert_eq!(l.get(Subsystem::Cfg), 1);
        assert_eq!(l.max(), 3);
    }

    #[test]
    fn subsystem_names_round_trip() {
        for s in Subsystem::ALL {
            assert_eq!(Subsystem::from_name(s.as_str()), Some(s));
        }
        assert_eq!(Subsystem::from_name("knl"), None);
    }
}
