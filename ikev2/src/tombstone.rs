//! The last response of IKE SAs that are gone, for the peer's retransmissions.
//!
//! RFC 7296 §2.1 has the responder answer a retransmitted request with the response it
//! cached. When the request was the peer's Delete of the IKE SA, the SA is gone once we
//! answered; if that answer is lost, the peer retransmits into an SPI we no longer know and,
//! without this table, holds its side of the SA (DELETING, listed) until its retransmissions
//! give up, minutes later (§2.4). Keeping the cached response a while longer lets both ends
//! forget the SA within one retransmission interval, as the exchange intends.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::sa::timer::Packets;

/// How long a gone SA's response is kept: past the fourth retransmission of strongSwan's
/// default schedule (4 s, 7.2 s, 13 s, 23 s: 47 s), which is where lingering would show.
pub const TOMBSTONE_TIME: Duration = Duration::from_secs(60);

/// Bound on the table; only SAs that completed IKE_AUTH get here, so this is a safety net,
/// not a limit an attacker can reach cheaply.
pub const MAX_TOMBSTONES: usize = 4096;

/// What a gone SA leaves behind.
#[derive(Debug, Clone)]
pub struct Tombstone {
    /// Message ID of the last request answered.
    pub msg_id: u32,
    /// The response's datagrams, as sent.
    pub packets: Packets,
    /// The peer's address: only its retransmissions are answered (no reflection to a
    /// spoofed source).
    pub peer: SocketAddr,
    pub until: Instant,
}

/// Tombstones by our SPI.
#[derive(Debug, Default)]
pub struct Tombstones {
    by_spi: HashMap<u64, Tombstone>,
}

impl Tombstones {
    /// Remembers the last response of the SA `spi`, dropping expired entries first.
    pub fn bury(&mut self, now: Instant, spi: u64, stone: Tombstone) {
        self.by_spi.retain(|_, t| t.until > now);
        if self.by_spi.len() >= MAX_TOMBSTONES {
            // Full of live entries: the oldest goes (the one that expires first).
            if let Some(oldest) = self.by_spi.iter().min_by_key(|(_, t)| t.until) {
                let oldest = *oldest.0;
                self.by_spi.remove(&oldest);
            }
        }
        self.by_spi.insert(spi, stone);
    }

    /// The response to resend for a request to the unknown SPI `spi`, if it is a
    /// retransmission of the gone SA's last request from its peer.
    pub fn answer(
        &self,
        now: Instant,
        spi: u64,
        msg_id: u32,
        from: SocketAddr,
    ) -> Option<&Packets> {
        self.by_spi
            .get(&spi)
            .filter(|t| t.until > now && t.msg_id == msg_id && t.peer == from)
            .map(|t| &t.packets)
    }

    pub fn len(&self) -> usize {
        self.by_spi.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_spi.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stone(now: Instant, msg_id: u32) -> Tombstone {
        Tombstone {
            msg_id,
            packets: vec![vec![msg_id as u8; 4]],
            peer: "192.0.2.1:500".parse().unwrap(),
            until: now + TOMBSTONE_TIME,
        }
    }

    #[test]
    fn answers_only_the_last_request_from_the_peer_until_expiry() {
        let now = Instant::now();
        let peer: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let other: SocketAddr = "192.0.2.9:500".parse().unwrap();
        let mut t = Tombstones::default();
        t.bury(now, 7, stone(now, 3));
        assert_eq!(t.answer(now, 7, 3, peer), Some(&vec![vec![3u8; 4]]));
        assert_eq!(t.answer(now, 7, 2, peer), None, "older message ID");
        assert_eq!(t.answer(now, 7, 3, other), None, "spoofed source");
        assert_eq!(t.answer(now, 8, 3, peer), None, "other SPI");
        assert_eq!(t.answer(now + TOMBSTONE_TIME, 7, 3, peer), None, "expired");
    }

    #[test]
    fn stays_bounded_dropping_expired_then_oldest() {
        let now = Instant::now();
        let mut t = Tombstones::default();
        for spi in 0..MAX_TOMBSTONES as u64 {
            let at = now + Duration::from_millis(spi);
            t.bury(at, spi, stone(at, 1));
        }
        assert_eq!(t.len(), MAX_TOMBSTONES);
        t.bury(now, u64::MAX, stone(now, 1));
        assert_eq!(t.len(), MAX_TOMBSTONES);
        assert!(t
            .answer(now, 0, 1, "192.0.2.1:500".parse().unwrap())
            .is_none());
        // Everything expired: one entry left.
        t.bury(
            now + TOMBSTONE_TIME * 2,
            1,
            stone(now + TOMBSTONE_TIME * 2, 1),
        );
        assert_eq!(t.len(), 1);
    }
}
