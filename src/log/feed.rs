//! The bridge from the logging drain (any thread) to the control server's
//! `log` subscribers (the daemon's mio thread).
//!
//! A bounded channel plus a [`mio::Waker`]: logging never blocks on a slow
//! control client; when the channel is full the record is dropped and
//! counted. The drain checks [`LogFeed::wants`] first so nothing is
//! formatted while nobody is subscribed.

use crate::ctl::proto::LogRecord;
use std::sync::atomic::{AtomicBool, AtomicI8, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};

struct Shared {
    /// Highest level any subscriber asked for; -2 = no subscriber.
    max_level: AtomicI8,
    /// A wake-up is already pending (coalesces wakes).
    pending: AtomicBool,
    dropped: AtomicU64,
    waker: OnceLock<Arc<mio::Waker>>,
}

/// Sending half, held by the logging drain. Cheap to clone.
#[derive(Clone)]
pub struct LogFeed {
    tx: SyncSender<LogRecord>,
    shared: Arc<Shared>,
}

/// Receiving half, handed to the control server.
pub struct LogFeedRx {
    rx: Receiver<LogRecord>,
    shared: Arc<Shared>,
}

/// A feed with room for `capacity` records between two server wake-ups.
pub fn feed_channel(capacity: usize) -> (LogFeed, LogFeedRx) {
    let (tx, rx) = sync_channel(capacity);
    let shared = Arc::new(Shared {
        max_level: AtomicI8::new(NO_SUBSCRIBER),
        pending: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
        waker: OnceLock::new(),
    });
    (
        LogFeed {
            tx,
            shared: shared.clone(),
        },
        LogFeedRx { rx, shared },
    )
}

const NO_SUBSCRIBER: i8 = -2;

impl LogFeed {
    /// Does any subscriber want records of this level?
    pub fn wants(&self, level: i8) -> bool {
        level <= self.shared.max_level.load(Ordering::Relaxed)
    }

    /// Queue a record; drops it (and counts) if the server is behind.
    pub fn push(&self, record: LogRecord) {
        match self.tx.try_send(record) {
            Ok(()) => {
                if !self.shared.pending.swap(true, Ordering::AcqRel) {
                    if let Some(w) = self.shared.waker.get() {
                        // A failed wake only delays delivery to the next poll.
                        let _ = w.wake();
                    }
                }
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Records dropped because the server was behind.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl LogFeedRx {
    /// Install the waker that [`LogFeed::push`] triggers (once).
    pub fn set_waker(&self, waker: Arc<mio::Waker>) {
        let _ = self.shared.waker.set(waker);
    }

    /// Publish the highest level subscribers want (`None` = no subscriber).
    pub fn set_max_level(&self, level: Option<i8>) {
        self.shared
            .max_level
            .store(level.unwrap_or(NO_SUBSCRIBER), Ordering::Relaxed);
    }

    /// Take every queued record.
    pub fn drain(&self) -> Vec<LogRecord> {
        self.shared.pending.store(false, Ordering::Release);
        self.rx.try_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(level: i8) -> LogRecord {
        LogRecord {
            thread: 1,
            subsystem: "ike".into(),
            level,
            ike: None,
            ike_uid: None,
            message: "m".into(),
        }
    }

    #[test]
    fn level_gate_and_overflow() {
        let (feed, rx) = feed_channel(2);
        assert!(!feed.wants(-1), "nobody subscribed");
        rx.set_max_level(Some(1));
        assert!(feed.wants(1) && !feed.wants(2));
        for _ in 0..3 {
            feed.push(rec(1));
        }
        assert_eq!(feed.dropped(), 1);
        assert_eq!(rx.drain().len(), 2);
        assert!(rx.drain().is_empty());
    }
}
