//! Half-open SA bounds (issue 14 item 8, seed 000 REQ 7): a sender that returns our COOKIEs
//! still cannot hold more than `block_threshold` half-open SAs per address
//! (strongSwan `charon.block_threshold`) nor push the total past `init_limit_half_open`
//! (`charon.init_limit_half_open`); other addresses keep being served.

mod util;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nvesec_ikev2::endpoint::{seeded_rng, Endpoint};
use nvesec_ikev2::wire::{Message, NotifyType};
use util::*;

/// An initiator whose IKE_AUTH never comes: it answers the COOKIE challenge, then stops.
struct Flooder {
    ep: Endpoint,
    addr: SocketAddr,
}

impl Flooder {
    fn new(a: &str, seed: u8, now: Instant) -> Self {
        let cfg = engine(vec![psk_conn("to-b", "m.nve", "b.nve", B_ADDR, b"x", None)]);
        Self {
            ep: Endpoint::new(
                Arc::new(cfg),
                seeded_rng([seed; 32]),
                now,
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            ),
            addr: addr(a),
        }
    }

    /// One IKE_SA_INIT with a valid cookie; returns whether `b` answered it with an
    /// IKE_SA_INIT response (rather than dropping it).
    fn open_one(&mut self, b: &mut Endpoint, now: Instant) -> bool {
        let b_addr = addr(B_ADDR);
        self.ep
            .initiate(now, "to-b", self.addr, Some(b_addr))
            .unwrap();
        let first = self.ep.poll_transmit().unwrap();
        b.handle_datagram(now, b_addr, self.addr, &first.bytes);
        let challenge = b
            .poll_transmit()
            .expect("cookie_threshold 0: a COOKIE challenge");
        let m = Message::parse(&challenge.bytes).unwrap();
        assert_eq!(m.notifies().next().unwrap().ty, NotifyType::COOKIE);
        self.ep
            .handle_datagram(now, self.addr, b_addr, &challenge.bytes);
        let retry = self.ep.poll_transmit().expect("the retry with the cookie");
        b.handle_datagram(now, b_addr, self.addr, &retry.bytes);
        let answered = match b.poll_transmit() {
            Some(t) => {
                let m = Message::parse(&t.bytes).unwrap();
                assert!(m.notifies().all(|n| n.ty != NotifyType::COOKIE));
                true
            }
            None => false,
        };
        assert!(b.poll_transmit().is_none());
        answered
    }
}

fn responder(block: Option<usize>, limit: Option<usize>) -> (Net, usize, usize) {
    let mut net = Net::new();
    let a = net.add(
        "a",
        A_ADDR,
        engine(vec![psk_conn(
            "to-b",
            "a.nve",
            "b.nve",
            B_ADDR,
            b"k",
            Some((1, 9)),
        )]),
        1,
    );
    let mut any = psk_conn("any", "b.nve", "a.nve", A_ADDR, b"k", Some((1, 9)));
    any.remote_addrs.clear();
    let mut bcfg = engine(vec![any]);
    bcfg.cookie_threshold = 0; // every IKE_SA_INIT must carry a valid cookie
    bcfg.block_threshold = block;
    bcfg.init_limit_half_open = limit;
    let b = net.add("b", B_ADDR, bcfg, 2);
    (net, a, b)
}

#[test]
fn per_address_half_open_cap_holds_with_valid_cookies() {
    let (mut net, a, b) = responder(Some(3), None);
    let now = net.now;
    let mut m = Flooder::new("198.51.100.7:500", 7, now);
    for i in 0..3 {
        assert!(
            m.open_one(&mut net.nodes[b].ep, now),
            "half-open SA {i} admitted"
        );
    }
    assert_eq!(net.nodes[b].ep.half_open_count(), 3);
    // The 4th (and 5th) from the same address: dropped, counted, no state, no answer.
    assert!(!m.open_one(&mut net.nodes[b].ep, now));
    assert!(!m.open_one(&mut net.nodes[b].ep, now));
    let d = net.nodes[b].ep.drop_counters();
    assert_eq!(d.half_open_per_address, 2);
    assert_eq!(d.half_open_limit, 0);
    assert_eq!(d.cookie_required, 5, "each attempt was challenged once");
    assert_eq!(net.nodes[b].ep.half_open_count(), 3);
    // Another address (another port on it would not help) is still served ...
    let mut m2 = Flooder::new("198.51.100.8:500", 8, now);
    assert!(m2.open_one(&mut net.nodes[b].ep, now));
    assert_eq!(net.nodes[b].ep.half_open_count(), 4);
    // ... and so is the real peer, whose IKE_SA completes and leaves the half-open count.
    net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(1), 200);
    assert_eq!(net.count_up(a), 1);
    assert_eq!(net.nodes[b].ep.half_open_count(), 4);
    // Once the flood's half-open SAs time out (half_open_timeout, 30 s), the address has its
    // allowance back: the per-address count went down with them.
    net.drive_for(Duration::from_secs(35), 500);
    assert_eq!(net.nodes[b].ep.half_open_count(), 0);
    let now = net.now;
    for _ in 0..3 {
        assert!(m.open_one(&mut net.nodes[b].ep, now));
    }
    assert!(!m.open_one(&mut net.nodes[b].ep, now));
    assert_eq!(net.nodes[b].ep.drop_counters().half_open_per_address, 3);
}

#[test]
fn engine_wide_half_open_cap_holds_with_valid_cookies() {
    let (mut net, _a, b) = responder(None, Some(4));
    let now = net.now;
    let mut floods: Vec<Flooder> = (0..5)
        .map(|i| Flooder::new(&format!("198.51.100.{}:500", 10 + i), 10 + i as u8, now))
        .collect();
    for f in floods.iter_mut().take(4) {
        assert!(f.open_one(&mut net.nodes[b].ep, now));
    }
    assert!(!floods[4].open_one(&mut net.nodes[b].ep, now));
    assert!(!floods[0].open_one(&mut net.nodes[b].ep, now));
    let d = net.nodes[b].ep.drop_counters();
    assert_eq!((d.half_open_limit, d.half_open_per_address), (2, 0));
    assert_eq!(net.nodes[b].ep.half_open_count(), 4);
}

#[test]
fn defaults_bound_half_open_state() {
    let cfg = nvesec_ikev2::config::EngineConfig::default();
    assert_eq!(
        cfg.block_threshold,
        Some(5),
        "charon.block_threshold default"
    );
    assert_eq!(cfg.init_limit_half_open, Some(1000));
}

#[test]
fn transmit_queue_is_bounded_and_counted() {
    // Three COOKIE challenges while nobody polls the queue: the newest is dropped, counted.
    let (mut net, _a, b) = responder(None, None);
    let mut cfg = (*net.nodes[b].ep.config()).clone();
    cfg.max_queued_transmits = 2;
    net.nodes[b].ep.set_config(Arc::new(cfg));
    let now = net.now;
    for i in 0..3u8 {
        let mut f = Flooder::new(&format!("198.51.100.{}:500", 20 + i), 20 + i, now);
        f.ep.initiate(now, "to-b", f.addr, Some(addr(B_ADDR)))
            .unwrap();
        let t = f.ep.poll_transmit().unwrap();
        net.nodes[b]
            .ep
            .handle_datagram(now, addr(B_ADDR), f.addr, &t.bytes);
    }
    let d = net.nodes[b].ep.drop_counters();
    assert_eq!((d.cookie_required, d.send_queue_full), (3, 1));
    let sent: Vec<_> = std::iter::from_fn(|| net.nodes[b].ep.poll_transmit()).collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0].dst,
        addr("198.51.100.20:500"),
        "the oldest are kept"
    );
}

#[test]
fn rate_limit_applies_after_the_cookie_exchange() {
    // The COOKIE challenge does not start the per-peer interval; the admitted SA does.
    let (mut net, _a, b) = responder(None, None);
    let mut cfg = (*net.nodes[b].ep.config()).clone();
    cfg.per_peer_min_interval = Some(Duration::from_secs(10));
    net.nodes[b].ep.set_config(Arc::new(cfg));
    let now = net.now;
    let mut m = Flooder::new("198.51.100.7:500", 7, now);
    assert!(
        m.open_one(&mut net.nodes[b].ep, now),
        "challenge then admitted"
    );
    assert!(!m.open_one(&mut net.nodes[b].ep, now), "second within 10 s");
    assert_eq!(net.nodes[b].ep.drop_counters().rate_limited, 1);
    let later = now + Duration::from_secs(11);
    assert!(m.open_one(&mut net.nodes[b].ep, later));
}
