//! GSA lifetimes: soft and hard limits by time, bytes, packets and sequence-number high-water.
//! Each of EXPIRE(soft) and EXPIRE(hard) fires at most once (like XFRM's `km.dying` flags).
//! Time is a parameter (`now`); this module never reads the clock.

use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// One set of limits; `None` = unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Seconds since the GSA was installed.
    pub time_secs: Option<u64>,
    pub bytes: Option<u64>,
    pub packets: Option<u64>,
    /// Highest sequence number sent (outbound) or authenticated (inbound).
    pub sn: Option<u64>,
}

/// Soft limits ask for a rekey (make-before-break); hard limits remove the GSA.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifetimeConfig {
    pub soft: Limits,
    pub hard: Limits,
}

/// Which EXPIRE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpireKind {
    Soft,
    Hard,
}

/// Usage figures a GSA reports to its lifetime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub packets: u64,
    pub sn: u64,
}

/// Lifetime state of one GSA.
#[derive(Debug, Clone)]
pub struct Lifetime {
    cfg: LifetimeConfig,
    added: Instant,
    soft_fired: bool,
    hard_fired: bool,
}

impl Lifetime {
    pub fn new(cfg: LifetimeConfig, now: Instant) -> Self {
        Lifetime {
            cfg,
            added: now,
            soft_fired: false,
            hard_fired: false,
        }
    }

    pub fn config(&self) -> &LifetimeConfig {
        &self.cfg
    }

    /// Replace the limits (UPDATE_GSA); already fired events stay fired.
    pub fn set_config(&mut self, cfg: LifetimeConfig) {
        self.cfg = cfg;
    }

    pub fn hard_fired(&self) -> bool {
        self.hard_fired
    }

    /// Returns the EXPIRE to raise now, if any. Hard wins over soft when both are reached at
    /// once (the GSA is going away; a soft rekey request would be moot).
    pub fn poll(&mut self, now: Instant, u: Usage) -> Option<ExpireKind> {
        if !self.hard_fired && self.reached(&self.cfg.hard, now, u) {
            self.hard_fired = true;
            self.soft_fired = true;
            return Some(ExpireKind::Hard);
        }
        if !self.soft_fired && self.reached(&self.cfg.soft, now, u) {
            self.soft_fired = true;
            return Some(ExpireKind::Soft);
        }
        None
    }

    /// Next instant a time limit fires, for `next_deadline()`.
    /// Whether usage may grow to `u` before any hard limit is reached (the GSA can take a whole
    /// batch of packets accounted at once).
    pub fn room(&self, now: Instant, u: Usage) -> bool {
        !self.hard_fired && !self.reached(&self.cfg.hard, now, u)
    }

    pub fn deadline(&self) -> Option<Instant> {
        let at = |l: &Limits| l.time_secs.map(|s| self.added + Duration::from_secs(s));
        let soft = if self.soft_fired {
            None
        } else {
            at(&self.cfg.soft)
        };
        let hard = if self.hard_fired {
            None
        } else {
            at(&self.cfg.hard)
        };
        match (soft, hard) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn reached(&self, l: &Limits, now: Instant, u: Usage) -> bool {
        let over = |limit: Option<u64>, v: u64| limit.is_some_and(|m| v >= m);
        l.time_secs
            .is_some_and(|s| now.duration_since(self.added) >= Duration::from_secs(s))
            || over(l.bytes, u.bytes)
            || over(l.packets, u.packets)
            || over(l.sn, u.sn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LifetimeConfig {
        LifetimeConfig {
            soft: Limits {
                time_secs: Some(10),
                bytes: Some(1000),
                packets: Some(10),
                sn: Some(8),
            },
            hard: Limits {
                time_secs: Some(20),
                bytes: Some(2000),
                packets: Some(20),
                sn: Some(16),
            },
        }
    }

    #[test]
    fn time_soft_then_hard_once_each() {
        let t0 = Instant::now();
        let mut l = Lifetime::new(cfg(), t0);
        assert_eq!(l.deadline(), Some(t0 + Duration::from_secs(10)));
        assert_eq!(l.poll(t0 + Duration::from_secs(9), Usage::default()), None);
        assert_eq!(
            l.poll(t0 + Duration::from_secs(10), Usage::default()),
            Some(ExpireKind::Soft)
        );
        assert_eq!(l.poll(t0 + Duration::from_secs(11), Usage::default()), None);
        assert_eq!(l.deadline(), Some(t0 + Duration::from_secs(20)));
        assert_eq!(
            l.poll(t0 + Duration::from_secs(20), Usage::default()),
            Some(ExpireKind::Hard)
        );
        assert_eq!(l.poll(t0 + Duration::from_secs(30), Usage::default()), None);
        assert_eq!(l.deadline(), None);
        assert!(l.hard_fired());
    }

    #[test]
    fn each_counter_triggers() {
        let t0 = Instant::now();
        for u in [
            Usage {
                bytes: 1000,
                ..Default::default()
            },
            Usage {
                packets: 10,
                ..Default::default()
            },
            Usage {
                sn: 8,
                ..Default::default()
            },
        ] {
            let mut l = Lifetime::new(cfg(), t0);
            assert_eq!(
                l.poll(
                    t0,
                    Usage {
                        bytes: u.bytes.saturating_sub(1),
                        packets: u.packets.saturating_sub(1),
                        sn: u.sn.saturating_sub(1)
                    }
                ),
                None
            );
            assert_eq!(l.poll(t0, u), Some(ExpireKind::Soft), "{u:?}");
            assert_eq!(l.poll(t0, u), None);
        }
    }

    #[test]
    fn hard_first_suppresses_soft() {
        let t0 = Instant::now();
        let mut l = Lifetime::new(cfg(), t0);
        assert_eq!(
            l.poll(
                t0,
                Usage {
                    sn: 16,
                    ..Default::default()
                }
            ),
            Some(ExpireKind::Hard)
        );
        assert_eq!(
            l.poll(
                t0,
                Usage {
                    sn: 17,
                    ..Default::default()
                }
            ),
            None
        );
    }

    #[test]
    fn unlimited_never_fires() {
        let t0 = Instant::now();
        let mut l = Lifetime::new(LifetimeConfig::default(), t0);
        assert_eq!(
            l.poll(
                t0 + Duration::from_secs(1 << 30),
                Usage {
                    bytes: u64::MAX,
                    packets: u64::MAX,
                    sn: u64::MAX
                }
            ),
            None
        );
        assert_eq!(l.deadline(), None);
    }
}
