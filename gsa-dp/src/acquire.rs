//! ACQUIRE and the hold queue: a SECURE policy whose GSA is not installed yet raises ACQUIRE
//! (at most once per template and peer per interval) and holds the first packets in a small
//! bounded queue. A packet the policy says to secure is never sent in clear: when the queue is
//! full or the packet waited too long it is dropped and counted.
//!
//! Everything is keyed by (reqid, peer): in a full mesh one template has a GSA per remote NVE
//! (docs/dataplane.md), so a missing GSA towards one NVE neither silences the ACQUIRE for
//! another nor holds back its packets.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// What ACQUIREs and held packets are keyed by: the template's reqid and the remote NVE the
/// route chose (`None` when the caller did not say).
pub type HoldKey = (u32, Option<IpAddr>);

/// Hold and ACQUIRE limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldConfig {
    /// Packets held per (reqid, peer).
    pub per_reqid: usize,
    pub total: usize,
    pub timeout: Duration,
    pub acquire_interval: Duration,
}

/// A packet waiting for its outbound GSA.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub reqid: u32,
    /// The remote NVE the route chose; the packet goes there once its GSA is installed.
    pub peer: Option<IpAddr>,
    pub vni: u32,
    pub protocol_type: u16,
    pub options: Vec<u8>,
    pub inner: Vec<u8>,
    pub deadline: Instant,
}

/// The queue plus the ACQUIRE rate limiter.
#[derive(Debug)]
pub(crate) struct HoldQueue {
    cfg: HoldConfig,
    q: VecDeque<Held>,
    last_acquire: HashMap<HoldKey, Instant>,
}

impl HoldQueue {
    pub fn new(cfg: HoldConfig) -> Self {
        HoldQueue {
            cfg,
            q: VecDeque::new(),
            last_acquire: HashMap::new(),
        }
    }

    /// Should an ACQUIRE for (reqid, peer) be raised now? Records it if so.
    pub fn acquire_due(&mut self, key: HoldKey, now: Instant) -> bool {
        match self.last_acquire.get(&key) {
            Some(t) if now.duration_since(*t) < self.cfg.acquire_interval => false,
            _ => {
                self.last_acquire.insert(key, now);
                true
            }
        }
    }

    /// Hold a packet; `false` when the queue (or this template's share for the peer) is full.
    pub fn push(&mut self, now: Instant, mut h: Held) -> bool {
        let mine = self
            .q
            .iter()
            .filter(|x| (x.reqid, x.peer) == (h.reqid, h.peer))
            .count();
        if self.q.len() >= self.cfg.total || mine >= self.cfg.per_reqid {
            return false;
        }
        h.deadline = now + self.cfg.timeout;
        self.q.push_back(h);
        true
    }

    /// Take the oldest held packet for which `ready((reqid, peer))` holds.
    pub fn take_ready(&mut self, ready: impl Fn(HoldKey) -> bool) -> Option<Held> {
        let i = self.q.iter().position(|h| ready((h.reqid, h.peer)))?;
        self.q.remove(i)
    }

    /// Drop packets past their deadline; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.q.len();
        self.q.retain(|h| h.deadline > now);
        self.last_acquire
            .retain(|_, t| now.duration_since(*t) < self.cfg.acquire_interval);
        before - self.q.len()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.q.iter().map(|h| h.deadline).min()
    }

    pub fn len(&self) -> usize {
        self.q.len()
    }

    pub fn clear(&mut self) {
        self.q.clear();
        self.last_acquire.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(reqid: u32) -> Held {
        held_to(reqid, None)
    }

    fn held_to(reqid: u32, peer: Option<IpAddr>) -> Held {
        Held {
            reqid,
            peer,
            vni: 1,
            protocol_type: 0x0800,
            options: vec![],
            inner: vec![1, 2, 3],
            deadline: Instant::now(),
        }
    }

    #[test]
    fn bounded_rate_limited_and_expiring() {
        let cfg = HoldConfig {
            per_reqid: 2,
            total: 3,
            timeout: Duration::from_secs(3),
            acquire_interval: Duration::from_secs(1),
        };
        let mut q = HoldQueue::new(cfg);
        let t0 = Instant::now();
        assert!(q.acquire_due((1, None), t0));
        assert!(!q.acquire_due((1, None), t0 + Duration::from_millis(999)));
        assert!(q.acquire_due((2, None), t0));
        assert!(q.acquire_due((1, None), t0 + Duration::from_secs(1)));
        assert!(q.push(t0, held(1)));
        assert!(q.push(t0, held(1)));
        assert!(!q.push(t0, held(1)), "per-reqid bound");
        assert!(q.push(t0, held(2)));
        assert!(!q.push(t0, held(3)), "total bound");
        assert_eq!(q.take_ready(|(r, _)| r == 2).unwrap().reqid, 2);
        assert!(q.take_ready(|(r, _)| r == 2).is_none());
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_secs(3)));
        assert_eq!(q.expire(t0 + Duration::from_secs(2)), 0);
        assert_eq!(q.expire(t0 + Duration::from_secs(3)), 2);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn keyed_by_reqid_and_peer() {
        let cfg = HoldConfig {
            per_reqid: 1,
            total: 8,
            timeout: Duration::from_secs(3),
            acquire_interval: Duration::from_secs(1),
        };
        let mut q = HoldQueue::new(cfg);
        let t0 = Instant::now();
        let (p2, p3) = (
            Some("192.0.2.2".parse().unwrap()),
            Some("192.0.2.3".parse().unwrap()),
        );
        // One ACQUIRE per peer for the same template, each rate-limited on its own.
        assert!(q.acquire_due((1, p2), t0));
        assert!(q.acquire_due((1, p3), t0));
        assert!(!q.acquire_due((1, p2), t0));
        assert!(!q.acquire_due((1, p3), t0));
        // Each peer has its own share of the queue.
        assert!(q.push(t0, held_to(1, p2)));
        assert!(!q.push(t0, held_to(1, p2)));
        assert!(q.push(t0, held_to(1, p3)));
        // Released per peer, oldest first.
        assert!(q.take_ready(|k| k == (1, None)).is_none());
        assert_eq!(q.take_ready(|k| k == (1, p3)).unwrap().peer, p3);
        assert!(q.take_ready(|k| k == (1, p3)).is_none());
        assert_eq!(q.len(), 1);
        assert_eq!(q.take_ready(|k| k == (1, p2)).unwrap().peer, p2);
    }
}
