//! Reliability: the handshake through a lossy, duplicating, reordering network still
//! converges to one IKE SA and one GSA per side with identical keys; duplicated requests are
//! answered from the response cache with identical bytes.

mod util;

use std::collections::HashMap;
use std::time::Duration;

use nvesec_ikev2::endpoint::Event;
use nvesec_ikev2::sa::SaState;
use nvesec_ikev2::wire::IkeHeader;
use util::*;

fn run(faults: Faults, seed_a: u8) -> Net {
    let mut net = Net::new();
    net.faults = faults;
    let a = net.add(
        "a",
        A_ADDR,
        engine(vec![psk_conn(
            "to-b",
            "a.nve",
            "b.nve",
            B_ADDR,
            b"k",
            Some((1, 50)),
        )]),
        seed_a,
    );
    net.add(
        "b",
        B_ADDR,
        engine(vec![psk_conn(
            "to-a",
            "b.nve",
            "a.nve",
            A_ADDR,
            b"k",
            Some((1, 50)),
        )]),
        seed_a.wrapping_add(100),
    );
    let now = net.now;
    net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(200), 10_000);
    net
}

fn assert_converged(net: &Net) {
    let (sa_a, sa_b) = (net.sa(0), net.sa(1));
    assert_eq!(sa_a.state(), SaState::Established);
    assert_eq!(sa_b.state(), SaState::Established);
    assert_eq!(
        sa_a.keys().unwrap().sk_ei().keymat().expose(),
        sa_b.keys().unwrap().sk_ei().keymat().expose()
    );
    for n in 0..2 {
        assert_eq!(
            net.count_up(n),
            1,
            "exactly one IkeSaUp on {}",
            net.nodes[n].name
        );
        let installs = net.nodes[n]
            .events
            .iter()
            .filter(|e| matches!(e, Event::GsaInstall { .. }))
            .count();
        assert_eq!(
            installs, 1,
            "exactly one GsaInstall on {}",
            net.nodes[n].name
        );
    }
    assert_eq!(sa_a.gsas()[0].inbound_id, sa_b.gsas()[0].outbound_id);
}

/// Key identifying "the same message" of one IKE SA.
type MsgKey = (usize, u64, u64, u32, bool);

/// Every datagram with the same (sender, SPIs, message ID, response flag) must be
/// byte-identical: retransmissions and cached responses are never rebuilt. (A responder whose
/// half-open SA timed out answers a late retransmission from a *new* SA, with a new SPIr.)
fn assert_retransmissions_identical(net: &Net) {
    let mut seen: HashMap<MsgKey, Vec<u8>> = HashMap::new();
    for c in &net.captured {
        let h = IkeHeader::parse(&c.bytes).unwrap();
        let key = (
            c.from,
            h.spi_i,
            h.spi_r,
            h.message_id,
            h.flags.is_response(),
        );
        match seen.get(&key) {
            Some(prev) => assert_eq!(prev, &c.bytes, "retransmission differs for {key:?}"),
            None => {
                seen.insert(key, c.bytes.clone());
            }
        }
    }
}

#[test]
fn converges_when_every_third_datagram_is_lost() {
    let net = run(
        Faults {
            drop_every: Some(3),
            ..Default::default()
        },
        1,
    );
    assert_converged(&net);
    assert_retransmissions_identical(&net);
    assert!(net.captured.iter().any(|c| !c.delivered));
}

#[test]
fn converges_under_30_percent_random_loss() {
    // Several seeds: each a different loss pattern, all reproducible.
    for seed in [7u8, 11, 23, 42] {
        let mut net = Net::new();
        net.faults = Faults {
            loss_percent: 30,
            ..Default::default()
        };
        net.loss_state ^= u64::from(seed) << 32;
        let a = net.add(
            "a",
            A_ADDR,
            engine(vec![psk_conn(
                "to-b",
                "a.nve",
                "b.nve",
                B_ADDR,
                b"k",
                Some((1, 50)),
            )]),
            seed,
        );
        net.add(
            "b",
            B_ADDR,
            engine(vec![psk_conn(
                "to-a",
                "b.nve",
                "a.nve",
                A_ADDR,
                b"k",
                Some((1, 50)),
            )]),
            seed.wrapping_add(100),
        );
        let now = net.now;
        net.nodes[a]
            .ep
            .initiate(now, "to-b", addr(A_ADDR), None)
            .unwrap();
        net.drive_for(Duration::from_secs(200), 10_000);
        assert_converged(&net);
        assert_retransmissions_identical(&net);
        assert!(
            net.captured.iter().any(|c| !c.delivered),
            "seed {seed} lost nothing"
        );
    }
}

#[test]
fn converges_with_duplicates_and_reordering() {
    let net = run(
        Faults {
            drop_every: Some(5),
            duplicate_every: Some(2),
            reorder_every: Some(3),
            reorder_delay: Duration::from_millis(50),
            ..Default::default()
        },
        3,
    );
    assert_converged(&net);
    assert_retransmissions_identical(&net);
}

#[test]
fn duplicated_request_is_answered_from_cache() {
    // Every datagram duplicated: B sees each request twice and must answer the second copy
    // with the cached response (identical bytes), not process it again.
    let net = run(
        Faults {
            duplicate_every: Some(1),
            ..Default::default()
        },
        5,
    );
    assert_converged(&net);
    assert_retransmissions_identical(&net);
    let b_auth_responses = net
        .captured
        .iter()
        .filter(|c| c.from == 1)
        .filter(|c| {
            let h = IkeHeader::parse(&c.bytes).unwrap();
            h.message_id == 1 && h.flags.is_response()
        })
        .count();
    assert_eq!(b_auth_responses, 2, "second copy answered from the cache");
}

#[test]
fn peer_that_never_answers_is_given_up_after_strongswan_schedule() {
    let mut net = Net::new();
    let a = net.add(
        "a",
        A_ADDR,
        engine(vec![psk_conn("to-b", "a.nve", "b.nve", B_ADDR, b"k", None)]),
        1,
    );
    net.unreachable.push(1);
    net.add(
        "b",
        B_ADDR,
        engine(vec![psk_conn("to-a", "b.nve", "a.nve", A_ADDR, b"k", None)]),
        2,
    );
    let start = net.now;
    net.nodes[a]
        .ep
        .initiate(start, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(400), 1000);
    // One send + 5 retransmissions at 4, 11.2, 24.16, 47.488, 89.478 s.
    let times: Vec<u128> = net
        .captured
        .iter()
        .map(|c| (c.at - start).as_millis())
        .collect();
    assert_eq!(times, vec![0, 4000, 11200, 24160, 47488, 89478]);
    assert!(net.nodes[a].ep.ike_sas().is_empty());
    assert!(net.nodes[a].events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: nvesec_ikev2::sa::events::DownReason::PeerDead,
            ..
        }
    )));
}
