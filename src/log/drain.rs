//! The root slog drain: charon-style filtering and formatting, fan-out to
//! the configured sinks and to the control socket's subscribers.

use super::syslog::{severity, SyslogWriter};
use super::time::Utc;
use super::{
    Levels, LogConfig, LogError, LogFeed, LogFormat, SinkConfig, SinkTarget, Subsystem, KEY_IKE,
    KEY_IKE_UID, KEY_LEVEL, KEY_SUBSYS,
};
use crate::ctl::proto::LogRecord;
use slog::{Drain, Key, OwnedKVList, Record, Serializer, KV};
use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::fs::{OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

type BoxWrite = Box<dyn Write + Send>;

enum Output {
    Text { out: Mutex<BoxWrite>, flush: bool },
    Json(Mutex<slog_json::Json<BoxWrite>>),
    Syslog(SyslogWriter),
}

struct Sink {
    levels: Levels,
    ike_name: bool,
    time: bool,
    output: Output,
}

/// The root drain built from a [`LogConfig`]. Logging never fails the
/// caller: sink I/O errors are swallowed (there is nowhere to report them).
pub struct Dispatcher {
    sinks: Vec<Sink>,
    feed: Option<LogFeed>,
}

impl Dispatcher {
    /// Open every sink of `cfg`.
    pub fn new(cfg: &LogConfig, feed: Option<LogFeed>) -> Result<Dispatcher, LogError> {
        Ok(Dispatcher::with_notes(cfg, feed)?.0)
    }

    /// [`new`](Self::new), plus what was changed on the way (log files whose
    /// mode was tightened), for the caller to log once it has a logger.
    pub fn with_notes(
        cfg: &LogConfig,
        feed: Option<LogFeed>,
    ) -> Result<(Dispatcher, Vec<String>), LogError> {
        let mut notes = Vec::new();
        let sinks = cfg
            .sinks
            .iter()
            .map(|s| open_sink(s, &mut notes))
            .collect::<Result<_, _>>()?;
        Ok((Dispatcher { sinks, feed }, notes))
    }

    /// A dispatcher writing text lines to an arbitrary writer (tests, tools).
    pub fn to_writer(
        out: Box<dyn Write + Send>,
        levels: Levels,
        feed: Option<LogFeed>,
    ) -> Dispatcher {
        Dispatcher {
            sinks: vec![Sink {
                levels,
                ike_name: true,
                time: false,
                output: Output::Text {
                    out: Mutex::new(out),
                    flush: true,
                },
            }],
            feed,
        }
    }
}

fn open_sink(cfg: &SinkConfig, notes: &mut Vec<String>) -> Result<Sink, LogError> {
    let writer: BoxWrite = match &cfg.target {
        SinkTarget::Stderr => Box::new(std::io::stderr()),
        SinkTarget::File {
            path,
            append,
            group,
            ..
        } => {
            let err = |source| LogError::File {
                path: path.clone(),
                source,
            };
            let mode = if group.is_some() { 0o640 } else { 0o600 };
            // Created with its mode: never readable by others, even briefly.
            let f = OpenOptions::new()
                .create(true)
                .append(*append)
                .write(true)
                .truncate(!*append)
                .mode(mode)
                .open(path)
                .map_err(err)?;
            if let Some(note) = restrict_log_file(&f, mode, *group).map_err(err)? {
                notes.push(format!("log file {}: {note}", path.display()));
            }
            Box::new(f)
        }
        SinkTarget::Syslog {
            facility,
            socket,
            ident,
        } => {
            let w = SyslogWriter::new(socket, *facility, ident).map_err(LogError::Syslog)?;
            return Ok(Sink {
                levels: cfg.levels.clone(),
                ike_name: cfg.ike_name,
                time: false,
                output: Output::Syslog(w),
            });
        }
    };
    // Files are flushed per line when asked (charon's flush_line); stderr is
    // unbuffered anyway.
    let flush = match &cfg.target {
        SinkTarget::File { flush_line, .. } => *flush_line,
        _ => true,
    };
    let output = match cfg.format {
        LogFormat::Text => Output::Text {
            out: Mutex::new(writer),
            flush,
        },
        LogFormat::Json => Output::Json(Mutex::new(
            slog_json::Json::new(writer)
                .add_default_keys()
                .set_newlines(true)
                .set_flush(flush)
                .build(),
        )),
    };
    Ok(Sink {
        levels: cfg.levels.clone(),
        ike_name: cfg.ike_name,
        time: cfg.time,
        output,
    })
}

/// Give an existing log file `mode` (and `group`); returns what it was when
/// that changed. Anything but a regular file (`/dev/stderr`, a FIFO) is left
/// alone: it is not ours to chmod.
fn restrict_log_file(
    f: &std::fs::File,
    mode: u32,
    group: Option<u32>,
) -> std::io::Result<Option<String>> {
    let m = f.metadata()?;
    if !m.file_type().is_file() {
        return Ok(None);
    }
    let mut was = Vec::new();
    if m.mode() & 0o7777 != mode {
        f.set_permissions(Permissions::from_mode(mode))?;
        was.push(format!(
            "mode was {:04o}, now {mode:04o}",
            m.mode() & 0o7777
        ));
    }
    if let Some(gid) = group.filter(|&g| g != m.gid()) {
        std::os::unix::fs::fchown(f, None, Some(gid))?;
        was.push(format!("group was {}, now {gid}", m.gid()));
    }
    Ok((!was.is_empty()).then(|| was.join(", ")))
}

/// charon level of a slog level (see the module docs).
pub(crate) fn charon_level(level: slog::Level) -> i8 {
    match level {
        slog::Level::Critical | slog::Level::Error | slog::Level::Warning => 0,
        slog::Level::Info => 1,
        slog::Level::Debug => 2,
        slog::Level::Trace => 3,
    }
}

/// The fields of a record that charon's format needs, plus the rest as
/// ` key=value` text.
#[derive(Default)]
pub(crate) struct Fields {
    pub subsys: Option<Subsystem>,
    pub level: Option<i8>,
    pub ike: Option<String>,
    pub ike_uid: Option<u32>,
    pub extra: String,
}

impl Serializer for Fields {
    fn emit_arguments(&mut self, key: Key, val: &fmt::Arguments<'_>) -> slog::Result {
        // Record keys are serialised before logger keys; the first (most
        // specific) value of a key wins.
        match key {
            KEY_SUBSYS => {
                if self.subsys.is_none() {
                    self.subsys = Subsystem::from_name(&val.to_string());
                }
            }
            KEY_IKE => {
                self.ike.get_or_insert_with(|| val.to_string());
            }
            KEY_IKE_UID => {
                if self.ike_uid.is_none() {
                    self.ike_uid = val.to_string().parse().ok();
                }
            }
            KEY_LEVEL => {
                if self.level.is_none() {
                    self.level = val.to_string().parse().ok();
                }
            }
            _ => {
                let _ = write!(self.extra, " {key}={val}");
            }
        }
        Ok(())
    }
}

pub(crate) fn collect(record: &Record<'_>, values: &OwnedKVList) -> Fields {
    let mut f = Fields::default();
    let _ = record.kv().serialize(record, &mut f);
    let _ = values.serialize(record, &mut f);
    f
}

static NEXT_THREAD: AtomicU32 = AtomicU32::new(1);
thread_local! {
    static THREAD_NO: Cell<u32> = const { Cell::new(0) };
}

/// charon's two-digit thread number: a small per-thread counter.
pub(crate) fn thread_no() -> u32 {
    THREAD_NO.with(|c| {
        if c.get() == 0 {
            c.set(NEXT_THREAD.fetch_add(1, Ordering::Relaxed));
        }
        c.get()
    })
}

/// `08[IKE] <gw|3> message key=value` (charon's filelog layout).
pub(crate) fn format_text(thread: u32, rec: &LogRecord, extra: &str, ike_name: bool) -> String {
    let mut line = format!("{thread:02}[{}] ", rec.subsystem.to_uppercase());
    if ike_name {
        match (&rec.ike, rec.ike_uid) {
            (Some(n), Some(u)) => {
                let _ = write!(line, "<{n}|{u}> ");
            }
            (Some(n), None) => {
                let _ = write!(line, "<{n}> ");
            }
            (None, Some(u)) => {
                let _ = write!(line, "<|{u}> ");
            }
            (None, None) => {}
        }
    }
    line.push_str(&rec.message);
    line.push_str(extra);
    line
}

impl Drain for Dispatcher {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
        let fields = collect(record, values);
        let subsys = fields.subsys.unwrap_or(Subsystem::Dmn);
        let level = fields.level.unwrap_or_else(|| charon_level(record.level()));
        let feed_wants = self.feed.as_ref().is_some_and(|f| f.wants(level));
        let any_sink = self.sinks.iter().any(|s| level <= s.levels.get(subsys));
        if !feed_wants && !any_sink {
            return Ok(());
        }
        let rec = LogRecord {
            thread: thread_no(),
            subsystem: subsys.as_str().to_owned(),
            level,
            ike: fields.ike.clone(),
            ike_uid: fields.ike_uid,
            message: record.msg().to_string(),
        };
        for sink in self.sinks.iter().filter(|s| level <= s.levels.get(subsys)) {
            write_sink(sink, &rec, &fields.extra, record, values);
        }
        if let (true, Some(feed)) = (feed_wants, &self.feed) {
            let mut rec = rec;
            rec.message.push_str(&fields.extra);
            feed.push(rec);
        }
        Ok(())
    }
}

fn write_sink(sink: &Sink, rec: &LogRecord, extra: &str, record: &Record<'_>, kv: &OwnedKVList) {
    match &sink.output {
        Output::Text { out, flush } => {
            let mut line = String::new();
            if sink.time {
                line.push_str(&Utc::from_system(SystemTime::now()).rfc3339());
                line.push(' ');
            }
            line.push_str(&format_text(rec.thread, rec, extra, sink.ike_name));
            line.push('\n');
            if let Ok(mut w) = out.lock() {
                let _ = w.write_all(line.as_bytes());
                if *flush {
                    let _ = w.flush();
                }
            }
        }
        Output::Json(json) => {
            if let Ok(j) = json.lock() {
                let _ = j.log(record, kv);
            }
        }
        Output::Syslog(w) => {
            w.send(
                severity(record.level()),
                &format_text(rec.thread, rec, extra, sink.ike_name),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{feed_channel, ike_sa, subsys, Redacted};
    use slog::{debug, info, o, trace, warn};
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Buf {
        fn lines(&self) -> Vec<String> {
            let s = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            // Strip the (thread-dependent) two-digit thread number.
            s.lines().map(|l| l[2..].to_owned()).collect()
        }
    }

    #[test]
    fn charon_lines_and_levels() {
        let buf = Buf::default();
        let d = Dispatcher::to_writer(
            Box::new(buf.clone()),
            Levels::all(1).with(Subsystem::Ike, 2),
            None,
        );
        let root = slog::Logger::root(d, o!());
        let ike = subsys(&root, Subsystem::Ike);
        let sa = ike_sa(&ike, "gw", 3);
        info!(sa, "IKE_SA gw[3] established");
        debug!(sa, "sending packet"; "len" => 312);
        trace!(sa, "raw bytes (level 3, filtered)");
        let cfg = subsys(&root, Subsystem::Cfg);
        debug!(cfg, "filtered at level 2");
        warn!(cfg, "loaded"; "psk" => Redacted("s3cret"));
        info!(root, "audit"; "lvl" => 0);
        assert_eq!(
            buf.lines(),
            vec![
                "[IKE] <gw|3> IKE_SA gw[3] established",
                "[IKE] <gw|3> sending packet len=312",
                "[CFG] loaded psk=<redacted>",
                "[DMN] audit",
            ]
        );
        assert!(!String::from_utf8(buf.0.lock().unwrap().clone())
            .unwrap()
            .contains("s3cret"));
    }

    #[test]
    fn feed_receives_only_subscribed_levels() {
        let (feed, rx) = feed_channel(16);
        let d = Dispatcher::to_writer(Box::new(Buf::default()), Levels::all(-1), Some(feed));
        let root = slog::Logger::root(d, o!());
        let net = subsys(&root, Subsystem::Net);
        info!(net, "before subscription");
        rx.set_max_level(Some(1));
        info!(ike_sa(&net, "gw", 1), "received"; "bytes" => 80);
        debug!(net, "too verbose");
        let got = rx.drain();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].subsystem, "net");
        assert_eq!(got[0].level, 1);
        assert_eq!(got[0].ike.as_deref(), Some("gw"));
        assert_eq!(got[0].ike_uid, Some(1));
        assert_eq!(got[0].message, "received bytes=80");
    }

    #[test]
    fn file_sink_appends_with_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nvesecd.log");
        std::fs::write(&path, "old line\n").unwrap();
        // (Already owner-only: no warning line about the mode.)
        std::fs::set_permissions(&path, Permissions::from_mode(0o600)).unwrap();
        let cfg = LogConfig {
            sinks: vec![SinkConfig::file(&path, 1)],
        };
        let log = crate::log::build_logger(&cfg, None).unwrap();
        info!(subsys(&log, Subsystem::Dp), "ACQUIRE for vni 100");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "old line");
        let (stamp, rest) = lines[1].split_once(' ').unwrap();
        assert_eq!(stamp.len(), "2025-01-01T00:00:00.000Z".len());
        assert!(stamp.ends_with('Z'));
        assert_eq!(&rest[2..], "[DP] ACQUIRE for vni 100");
    }

    fn mode_gid(path: &std::path::Path) -> (u32, u32) {
        let m = std::fs::metadata(path).unwrap();
        (m.mode() & 0o7777, m.gid())
    }

    #[test]
    fn file_sink_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nvesecd.log");
        let cfg = LogConfig {
            sinks: vec![SinkConfig::file(&path, 1)],
        };
        // Created 0600 (the umask would have given 0644).
        let (_, notes) = Dispatcher::with_notes(&cfg, None).unwrap();
        assert_eq!(mode_gid(&path), (0o600, 0));
        assert!(notes.is_empty(), "{notes:?}");

        // An existing world-readable file is tightened, and the log says so.
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        drop(crate::log::build_logger(&cfg, None).unwrap());
        assert_eq!(mode_gid(&path), (0o600, 0));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with(&format!(
                "[DMN] log file {}: mode was 0644, now 0600\n",
                path.display()
            )),
            "{text}"
        );

        // With the control group: 0640 and the group's.
        let mut sink = SinkConfig::file(&path, 1);
        if let SinkTarget::File { group, .. } = &mut sink.target {
            *group = Some(65534);
        }
        let (_, notes) = Dispatcher::with_notes(&LogConfig { sinks: vec![sink] }, None).unwrap();
        assert_eq!(mode_gid(&path), (0o640, 65534));
        assert_eq!(
            notes,
            [format!(
                "log file {}: mode was 0600, now 0640, group was 0, now 65534",
                path.display()
            )]
        );
    }

    #[test]
    fn json_sink() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.log");
        let mut sink = SinkConfig::file(&path, 1);
        sink.format = LogFormat::Json;
        let log = crate::log::build_logger(&LogConfig { sinks: vec![sink] }, None).unwrap();
        info!(ike_sa(&subsys(&log, Subsystem::Ike), "gw", 2), "up"; "key" => Redacted([1u8; 32]));
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["msg"], "up");
        assert_eq!(v["subsys"], "ike");
        assert_eq!(v["ike"], "gw");
        assert_eq!(v["ike_uid"], 2);
        assert_eq!(v["key"], "<redacted>");
    }
}
