//! Regression (found by `fuzz_null::fuzz_engine_null`, issue 14): a duplicate IKE SA that we
//! initiated and must delete (full mesh, the peer's SA has the lower Ni) while our request on
//! it is outstanding. Its Delete waits in the queue, so the SA stayed "active" and
//! `Endpoint::resolve_duplicates` called itself through `delete_ike_with` -> `post_process`
//! without end: a stack overflow that aborted the daemon. Real crypto: any peer could cause it
//! by initiating while our DPD (or any request) was in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nvesec_ikev2::config::{ConnectionConfig, EngineConfig, GsaConfig, Identity};
use nvesec_ikev2::endpoint::{seeded_rng, Endpoint, Event};
use nvesec_ikev2::sa::events::DownReason;

fn cfg(name: &str, me: &str, peer: &str, remote: SocketAddr) -> Arc<EngineConfig> {
    let mut c = ConnectionConfig::psk(
        name,
        Identity::Fqdn(me.into()),
        Identity::Fqdn(peer.into()),
        b"a long shared secret",
    );
    c.remote_addrs = vec![remote.ip()];
    c.children.push(GsaConfig::geo_vnis("g", 1, 100));
    Arc::new(EngineConfig {
        connections: vec![Arc::new(c)],
        ..Default::default()
    })
}

fn shuttle(now: Instant, a: &mut Endpoint, b: &mut Endpoint) {
    for _ in 0..16 {
        let mut moved = false;
        while let Some(t) = a.poll_transmit() {
            b.handle_datagram(now, t.dst, t.src, &t.bytes);
            moved = true;
        }
        while let Some(t) = b.poll_transmit() {
            a.handle_datagram(now, t.dst, t.src, &t.bytes);
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

#[test]
fn duplicate_to_delete_with_a_request_outstanding_is_deleted_once_the_window_frees() {
    let a_addr: SocketAddr = "192.0.2.1:500".parse().unwrap();
    let b_addr: SocketAddr = "192.0.2.2:500".parse().unwrap();
    let now = Instant::now();
    let wall = SystemTime::now();
    // Seeds chosen so that B's SA (initiated second) has the lower Ni and wins.
    let mut a = Endpoint::new(
        cfg("to-b", "a", "b", b_addr),
        seeded_rng([1; 32]),
        now,
        wall,
    );
    let mut b = Endpoint::new(
        cfg("to-a", "b", "a", a_addr),
        seeded_rng([2; 32]),
        now,
        wall,
    );
    let sa1 = a.initiate(now, "to-b", a_addr, Some(b_addr)).unwrap();
    shuttle(now, &mut a, &mut b);
    while a.poll_event().is_some() || b.poll_event().is_some() {}

    // A's DPD on SA1 is in flight (not delivered yet): SA1's window is busy.
    a.send_dpd(now, sa1).unwrap();
    let dpd = a.poll_transmit().expect("DPD request");
    // B initiates SA2; when its IKE_AUTH reaches A, A must delete SA1 (its own, higher Ni).
    let t = now + Duration::from_millis(10);
    b.initiate(t, "to-a", b_addr, Some(a_addr)).unwrap();
    shuttle(t, &mut a, &mut b);
    let sa2 = *a.ike_sas().iter().find(|id| **id != sa1).expect("SA2 on A");
    assert!(
        a.ike_sa(sa2).unwrap().creation_nonce() < a.ike_sa(sa1).unwrap().creation_nonce(),
        "precondition: SA2 wins the tie-break"
    );
    // Now the DPD arrives and is answered; the queued Delete of SA1 goes out and completes.
    b.handle_datagram(t, dpd.dst, dpd.src, &dpd.bytes);
    shuttle(t, &mut a, &mut b);
    let downs: Vec<_> = std::iter::from_fn(|| a.poll_event())
        .filter_map(|e| match e {
            Event::IkeSaDown { ike, reason } => Some((ike, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(downs, vec![(sa1, DownReason::Duplicate)]);
    assert_eq!(a.ike_sas(), vec![sa2]);
}
