//! Counters: per GSA (packets, bytes, last use) and per drop reason. Every drop has a reason
//! (no silent drops); `STATS` reports them.

use serde::Serialize;
use std::time::Instant;

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Bad Geneve version, truncated header, option lengths not summing to Opt Len, bad GSO
    /// length or coverage fields out of range.
    Malformed,
    /// A critical option we do not implement (RFC 8926 §3.5).
    UnknownCritical,
    /// GSO names a GSA-ID with no inbound GSA.
    NoGsa,
    /// ICV or AEAD tag did not verify.
    BadIcv,
    /// Duplicate or left of the anti-replay window.
    Replay,
    /// Validated GSOs do not satisfy the GSA selectors or the GSP.
    PolicyMismatch,
    /// A DISCARD policy matched, or no policy did (default DISCARD).
    Discard,
    /// SECURE policy without GSA and the hold queue is full.
    QueueFull,
    /// A held packet waited longer than the hold timeout.
    HoldTimeout,
    /// The outbound GSA ran out of sequence numbers (never wrap: RFC 4303 §3.3.3).
    SnExhausted,
    /// The caller's output buffer cannot hold the packet.
    BufferTooSmall,
    /// No policy took a frame whose selectors could not all be read (which BYPASS never
    /// takes): the default DISCARD.
    Unreadable,
}

impl DropReason {
    pub const ALL: [DropReason; 12] = [
        DropReason::Malformed,
        DropReason::UnknownCritical,
        DropReason::NoGsa,
        DropReason::BadIcv,
        DropReason::Replay,
        DropReason::PolicyMismatch,
        DropReason::Discard,
        DropReason::QueueFull,
        DropReason::HoldTimeout,
        DropReason::SnExhausted,
        DropReason::BufferTooSmall,
        DropReason::Unreadable,
    ];

    /// Stable snake_case name (used in STATS).
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::UnknownCritical => "unknown_critical",
            DropReason::NoGsa => "no_gsa",
            DropReason::BadIcv => "bad_icv",
            DropReason::Replay => "replay",
            DropReason::PolicyMismatch => "policy_mismatch",
            DropReason::Discard => "discard",
            DropReason::QueueFull => "queue_full",
            DropReason::HoldTimeout => "hold_timeout",
            DropReason::SnExhausted => "sn_exhausted",
            DropReason::BufferTooSmall => "buffer_too_small",
            DropReason::Unreadable => "unreadable_selectors",
        }
    }
}

/// Drop counters indexed by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropCounters([u64; DropReason::ALL.len()]);

impl DropCounters {
    pub fn inc(&mut self, r: DropReason) {
        self.0[r as usize] += 1;
    }

    pub fn get(&self, r: DropReason) -> u64 {
        self.0[r as usize]
    }

    /// (name, count) for every reason, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DropReason::ALL.iter().map(|r| (r.name(), self.get(*r)))
    }
}

/// Per-GSA traffic counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GsaCounters {
    pub packets: u64,
    /// Inner frame bytes protected (outbound) or delivered (inbound).
    pub bytes: u64,
    pub last_use: Option<Instant>,
    /// Dummy packets sent or received (not in `packets`).
    pub dummies: u64,
}

impl GsaCounters {
    pub fn record(&mut self, now: Instant, bytes: usize) {
        self.record_many(now, 1, bytes as u64);
    }

    /// `packets` packets of `bytes` in all.
    pub fn record_many(&mut self, now: Instant, packets: u64, bytes: u64) {
        self.packets += packets;
        self.bytes += bytes;
        self.last_use = Some(now);
    }
}

/// Totals across the dataplane.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub drops: DropCounters,
    pub sent_secured: u64,
    pub sent_bypass: u64,
    pub delivered_secured: u64,
    pub delivered_bypass: u64,
    pub dummies_sent: u64,
    pub dummies_received: u64,
    pub acquires: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_reason() {
        let mut d = DropCounters::default();
        d.inc(DropReason::Replay);
        d.inc(DropReason::Replay);
        d.inc(DropReason::BufferTooSmall);
        assert_eq!(d.get(DropReason::Replay), 2);
        assert_eq!(d.get(DropReason::Malformed), 0);
        let v: Vec<_> = d.iter().filter(|(_, n)| *n > 0).collect();
        assert_eq!(v, vec![("replay", 2), ("buffer_too_small", 1)]);
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }

    #[test]
    fn gsa_record() {
        let now = Instant::now();
        let mut c = GsaCounters::default();
        c.record(now, 100);
        c.record(now, 50);
        assert_eq!((c.packets, c.bytes, c.last_use), (2, 150, Some(now)));
    }
}
