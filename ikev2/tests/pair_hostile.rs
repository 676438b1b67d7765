//! Issue 14: what an underlay attacker or an enrolled but hostile NVE can send, message by
//! message, and what it must not get.

mod util;

use std::time::Duration;

use nvesec_ikev2::sa::SaState;
use util::*;

/// The PSK pair of `util`, up.
fn established() -> Net {
    established_psk_pair(1, 2)
}

/// Another NVE's underlay address (where a rewritten source points).
const C_ADDR: &str = "192.0.2.3:500";

/// Issue 14 item 2: B's authenticated request arrives with its source rewritten to C's
/// address (an on-path attacker). Before the fix A "followed the peer" to C: its answers
/// and every later request went to C, the next rekey never came up, and listings showed B.
/// Now the response goes where the request came from (RFC 7296 §2.11), but the IKE SA stays
/// at B (§2.23: no move without NAT detection), so A's next request reaches B. A replayed
/// copy of the request from yet another source is not answered (no reflection) and counted.
#[test]
fn a_request_with_a_rewritten_source_does_not_move_the_ike_sa() {
    let mut net = established();
    let ib = net.sa_id(1);
    let now = net.now;
    net.nodes[1].ep.send_dpd(now, ib).unwrap();
    let req = net.nodes[1].ep.poll_transmit().expect("B's DPD request");
    assert_eq!(req.dst, addr(A_ADDR));
    // Delivered to A as if it came from C.
    net.nodes[0]
        .ep
        .handle_datagram(now, addr(A_ADDR), addr(C_ADDR), &req.bytes);
    let resp = net.nodes[0].ep.poll_transmit().expect("A answers");
    assert_eq!(
        resp.dst,
        addr(C_ADDR),
        "the response goes to the request's source"
    );
    assert!(net.nodes[0].ep.poll_transmit().is_none());
    assert_eq!(net.sa(0).remote(), addr(B_ADDR), "the IKE SA moved");

    // A replayed copy from a third address: a retransmission, not answered there.
    let d_addr = addr("198.51.100.7:500");
    net.nodes[0]
        .ep
        .handle_datagram(now, addr(A_ADDR), d_addr, &req.bytes);
    assert!(
        net.nodes[0].ep.poll_transmit().is_none(),
        "a retransmission from elsewhere was answered (reflection)"
    );
    assert_eq!(net.nodes[0].ep.drop_counters().foreign_retransmit, 1);
    // B's own retransmission, from B, is answered at B.
    net.nodes[0]
        .ep
        .handle_datagram(now, addr(A_ADDR), addr(B_ADDR), &req.bytes);
    let again = net.nodes[0].ep.poll_transmit().expect("answered at B");
    assert_eq!(again.dst, addr(B_ADDR));
    assert_eq!(again.bytes, resp.bytes, "the cached response");

    // A's own next request goes to B, and the exchange completes.
    net.nodes[1]
        .ep
        .handle_datagram(now, addr(B_ADDR), addr(A_ADDR), &again.bytes);
    let ia = net.sa_id(0);
    net.nodes[0].ep.send_dpd(now, ia).unwrap();
    let next = net.nodes[0].ep.poll_transmit().expect("A's DPD");
    assert_eq!(
        next.dst,
        addr(B_ADDR),
        "A's requests went to the spoofed address"
    );
    net.nodes[1]
        .ep
        .handle_datagram(now, addr(B_ADDR), addr(A_ADDR), &next.bytes);
    net.drive_for(Duration::from_secs(1), 50);
    assert_eq!(net.sa(0).state(), SaState::Established);
    assert_eq!(net.sa(1).state(), SaState::Established);
}
