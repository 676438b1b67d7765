//! Reliability of one IKE SA: retransmission of our requests with exponential back-off,
//! message-ID tracking with window size 1, and the cached response for retransmitted
//! requests (RFC 7296 §2.1, §2.2, §2.3). Also the per-SA deadline table (quinn-proto style).
//!
//! Only the initiator of an exchange retransmits; retransmissions are the *identical* bytes
//! (never re-encrypted: a new SK seal would reuse nothing but wastes IVs and breaks the peer's
//! duplicate detection), and a responder answers a retransmitted request with its cached
//! response, never by processing it again.

use std::time::{Duration, Instant};

use crate::config::RetransmitConfig;

/// One IKE message as sent: one datagram, or several RFC 7383 fragments.
pub type Packets = Vec<Vec<u8>>;

/// Our outstanding request and its retransmission schedule.
#[derive(Debug, Clone)]
pub struct Retransmitter {
    cfg: RetransmitConfig,
    msg_id: u32,
    packets: Packets,
    /// Retransmissions done so far (the first send is not one).
    retransmits: u32,
    deadline: Instant,
}

/// What the SA must do when its retransmission deadline is reached.
#[derive(Debug, PartialEq, Eq)]
pub enum RetransmitAction<'a> {
    /// Nothing yet; wake up at this instant.
    Wait(Instant),
    /// Send these bytes again, unchanged.
    Resend(&'a [Vec<u8>]),
    /// `tries` retransmissions went unanswered: the peer is dead (RFC 7296 §2.4).
    GiveUp,
}

impl Retransmitter {
    /// Starts tracking a request just sent at `now`.
    pub fn new(cfg: RetransmitConfig, msg_id: u32, packets: Packets, now: Instant) -> Self {
        Self {
            cfg,
            msg_id,
            packets,
            retransmits: 0,
            deadline: now + cfg.interval(0),
        }
    }

    pub fn msg_id(&self) -> u32 {
        self.msg_id
    }

    pub fn packets(&self) -> &[Vec<u8>] {
        &self.packets
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn retransmits(&self) -> u32 {
        self.retransmits
    }

    /// Advances the schedule. The next deadline counts from the scheduled one, not from `now`,
    /// so a late caller does not stretch the total give-up time.
    pub fn on_timeout(&mut self, now: Instant) -> RetransmitAction<'_> {
        if now < self.deadline {
            return RetransmitAction::Wait(self.deadline);
        }
        if self.retransmits >= self.cfg.tries {
            return RetransmitAction::GiveUp;
        }
        self.retransmits += 1;
        self.deadline += self.cfg.interval(self.retransmits);
        RetransmitAction::Resend(&self.packets)
    }
}

/// Message IDs of the requests we initiate on one IKE SA (window size 1).
#[derive(Debug, Clone, Default)]
pub struct InitiatorWindow {
    next_id: u32,
    outstanding: Option<Retransmitter>,
}

impl InitiatorWindow {
    /// Starts at `first_id` (0 for a new IKE SA; IKE_AUTH is 1 after IKE_SA_INIT).
    pub fn starting_at(first_id: u32) -> Self {
        Self {
            next_id: first_id,
            outstanding: None,
        }
    }

    /// True when a new request may be sent (window size 1: none outstanding).
    pub fn can_send(&self) -> bool {
        self.outstanding.is_none()
    }

    /// The ID the next request must carry.
    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    /// Records a request just sent with [`Self::next_id`].
    pub fn sent(&mut self, cfg: RetransmitConfig, packets: Packets, now: Instant) {
        debug_assert!(self.outstanding.is_none(), "window size 1");
        self.outstanding = Some(Retransmitter::new(cfg, self.next_id, packets, now));
        self.next_id = self.next_id.wrapping_add(1);
    }

    /// Accepts a response only if it answers the outstanding request (RFC 7296 §2.2:
    /// anything else is a stale duplicate or forged and is dropped).
    pub fn accept_response(&mut self, msg_id: u32) -> bool {
        match &self.outstanding {
            Some(r) if r.msg_id() == msg_id => {
                self.outstanding = None;
                true
            }
            _ => false,
        }
    }

    /// Drops the outstanding request (exchange abandoned, e.g. IKE_SA_INIT restarted).
    pub fn abandon(&mut self) {
        self.outstanding = None;
    }

    /// Replaces the bytes of the outstanding request in place and restarts its schedule
    /// (an IKE_SA_INIT resent with a COOKIE or another KE keeps message ID 0, RFC 7296 §2.6).
    pub fn restart_same_id(&mut self, cfg: RetransmitConfig, packets: Packets, now: Instant) {
        let id = self.next_id.wrapping_sub(1);
        self.outstanding = Some(Retransmitter::new(cfg, id, packets, now));
    }

    pub fn outstanding(&self) -> Option<&Retransmitter> {
        self.outstanding.as_ref()
    }

    pub fn outstanding_mut(&mut self) -> Option<&mut Retransmitter> {
        self.outstanding.as_mut()
    }
}

/// What to do with an incoming request, by its message ID.
#[derive(Debug, PartialEq, Eq)]
pub enum RequestClass<'a> {
    /// The next expected request: process it.
    New,
    /// A retransmission of the last request: send the cached response again.
    Retransmit(&'a [Vec<u8>]),
    /// Old, too new, or a retransmission whose response we no longer hold: drop silently.
    Drop,
}

/// Message IDs of requests the peer initiates on one IKE SA, and our last response.
#[derive(Debug, Clone, Default)]
pub struct ResponderWindow {
    expected: u32,
    cached: Option<(u32, Packets)>,
}

impl ResponderWindow {
    pub fn starting_at(first_id: u32) -> Self {
        Self {
            expected: first_id,
            cached: None,
        }
    }

    pub fn expected(&self) -> u32 {
        self.expected
    }

    /// Classifies a request (RFC 7296 §2.2, window size 1).
    pub fn classify(&self, msg_id: u32) -> RequestClass<'_> {
        if msg_id == self.expected {
            return RequestClass::New;
        }
        match &self.cached {
            Some((id, pkts)) if *id == msg_id => RequestClass::Retransmit(pkts),
            _ => RequestClass::Drop,
        }
    }

    /// Stores the response to request `msg_id` and moves the window.
    pub fn responded(&mut self, msg_id: u32, packets: Packets) {
        self.cached = Some((msg_id, packets));
        self.expected = msg_id.wrapping_add(1);
    }

    pub fn cached(&self) -> Option<(u32, &[Vec<u8>])> {
        self.cached.as_ref().map(|(id, p)| (*id, p.as_slice()))
    }
}

/// Kinds of deadline an IKE SA tracks; one slot each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Retransmit our outstanding request (deadline mirrored from [`Retransmitter`]).
    Retransmit = 0,
    /// Send a liveness check (DPD) when nothing was received for `dpd_delay`.
    Dpd = 1,
    /// Rekey the IKE SA.
    IkeRekey = 2,
    /// A half-open or failing SA is destroyed.
    Expire = 3,
    /// Remove an old inbound GSA after the rekey grace period / retry a deferred exchange.
    Housekeeping = 4,
}

const TIMER_COUNT: usize = 5;

/// One optional deadline per [`Timer`] kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimerTable([Option<Instant>; TIMER_COUNT]);

impl TimerTable {
    pub fn set(&mut self, t: Timer, at: Instant) {
        self.0[t as usize] = Some(at);
    }

    pub fn stop(&mut self, t: Timer) {
        self.0[t as usize] = None;
    }

    pub fn get(&self, t: Timer) -> Option<Instant> {
        self.0[t as usize]
    }

    /// True (and the slot cleared) if `t` is due at `now`.
    pub fn take_expired(&mut self, t: Timer, now: Instant) -> bool {
        match self.0[t as usize] {
            Some(at) if at <= now => {
                self.0[t as usize] = None;
                true
            }
            _ => false,
        }
    }

    /// The earliest deadline of all kinds.
    pub fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }
}

/// Adds a duration, saturating at a far future instead of panicking.
pub fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(u32::MAX.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn strongswan_schedule_resends_identical_bytes_then_gives_up() {
        let t0 = Instant::now();
        let pkts = vec![vec![1, 2, 3]];
        let mut r = Retransmitter::new(RetransmitConfig::default(), 7, pkts.clone(), t0);
        // Retransmissions at 4, 11.2, 24.16, 47.488, 89.4784 s; give up at 165.06112 s.
        let expected_ms = [4000u64, 11200, 24160, 47488, 89478];
        assert_eq!(
            r.on_timeout(t0 + ms(3999)),
            RetransmitAction::Wait(t0 + ms(4000))
        );
        for (i, at) in expected_ms.iter().enumerate() {
            // Exactly at the deadline (sub-millisecond parts: use the reported deadline).
            let due = r.deadline();
            assert!(due >= t0 + ms(*at) && due < t0 + ms(*at + 1), "resend {i}");
            assert_eq!(r.on_timeout(due), RetransmitAction::Resend(&pkts));
            assert_eq!(r.retransmits(), i as u32 + 1);
        }
        let due = r.deadline();
        assert!(due >= t0 + ms(165_061) && due < t0 + ms(165_062));
        assert!(matches!(
            r.on_timeout(due - ms(1)),
            RetransmitAction::Wait(_)
        ));
        assert_eq!(r.on_timeout(due), RetransmitAction::GiveUp);
        assert_eq!(r.on_timeout(due + ms(10)), RetransmitAction::GiveUp);
    }

    #[test]
    fn late_caller_does_not_stretch_schedule() {
        let t0 = Instant::now();
        let mut r = Retransmitter::new(RetransmitConfig::default(), 0, vec![vec![0]], t0);
        assert!(matches!(
            r.on_timeout(t0 + ms(6000)),
            RetransmitAction::Resend(_)
        ));
        assert_eq!(r.deadline(), t0 + ms(4000) + ms(7200));
    }

    #[test]
    fn initiator_window_size_one() {
        let t0 = Instant::now();
        let cfg = RetransmitConfig::default();
        let mut w = InitiatorWindow::starting_at(1);
        assert!(w.can_send());
        w.sent(cfg, vec![vec![9]], t0);
        assert!(!w.can_send());
        assert_eq!(w.next_id(), 2);
        assert!(!w.accept_response(0), "stale response");
        assert!(!w.accept_response(2), "response to a request never sent");
        assert!(!w.can_send());
        assert!(w.accept_response(1));
        assert!(w.can_send());
        assert!(!w.accept_response(1), "duplicate response");
    }

    #[test]
    fn restart_keeps_message_id() {
        let t0 = Instant::now();
        let cfg = RetransmitConfig::default();
        let mut w = InitiatorWindow::starting_at(0);
        w.sent(cfg, vec![vec![1]], t0);
        w.restart_same_id(cfg, vec![vec![2]], t0 + ms(100));
        let o = w.outstanding().unwrap();
        assert_eq!(o.msg_id(), 0);
        assert_eq!(o.packets(), &[vec![2u8]]);
        assert_eq!(o.deadline(), t0 + ms(4100));
        assert_eq!(w.next_id(), 1);
    }

    #[test]
    fn responder_window_caches_last_response() {
        let mut w = ResponderWindow::starting_at(0);
        assert_eq!(w.classify(0), RequestClass::New);
        assert_eq!(w.classify(1), RequestClass::Drop);
        w.responded(0, vec![vec![0xaa], vec![0xbb]]);
        assert_eq!(w.expected(), 1);
        assert_eq!(
            w.classify(0),
            RequestClass::Retransmit(&[vec![0xaa], vec![0xbb]])
        );
        assert_eq!(w.classify(1), RequestClass::New);
        assert_eq!(w.classify(5), RequestClass::Drop);
        w.responded(1, vec![vec![0xcc]]);
        assert_eq!(w.classify(0), RequestClass::Drop, "only the last is cached");
    }

    #[test]
    fn timer_table_min_and_expiry() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Dpd, t0 + ms(30));
        t.set(Timer::Retransmit, t0 + ms(10));
        assert_eq!(t.next(), Some(t0 + ms(10)));
        assert!(!t.take_expired(Timer::Retransmit, t0 + ms(9)));
        assert!(t.take_expired(Timer::Retransmit, t0 + ms(10)));
        assert_eq!(t.next(), Some(t0 + ms(30)));
        t.stop(Timer::Dpd);
        assert_eq!(t.next(), None);
    }
}
