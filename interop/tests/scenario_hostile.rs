//! Issue 7, scenario 8 (dataplane half): hostile input on the underlay, from the attacker
//! namespace on the bridge, against a gsa-dp pair (GEO, keyed by hand) carrying pings.
//! Replays, tampered packets, truncated, oversized and random datagrams are all dropped and
//! counted by reason (exact deltas), nothing reaches the tun twice, and afterwards gsa-dp still
//! answers keying requests and still carries the legitimate ping.
//! TODO(nvesecd): random bytes to UDP 500 and the spoofed IKE_SA_INIT flood need the daemon.

use std::net::SocketAddrV4;

use nvesec_interop::attacker::{
    gso_offsets as off, random_bytes, unseen_packets, Attacker, Datagram, DpCounters, Frame,
    Sniffer,
};
use nvesec_interop::require_root;
use nvesec_interop::topology::{
    gsa_id, ping, tenant_addr, DpNves, Scenario, Suite, Topology, TENANT_DEV, UNDERLAY_DEV,
};

const MARKER: &[u8] = b"NVESEC-MARKER-08";

fn setup() -> (Topology, DpNves) {
    let t = Topology::build("bridge 2; attacker").unwrap();
    let nves = DpNves::start(&t).unwrap();
    nves.secure_pair(0, 1, Suite::Geo).unwrap();
    (t, nves)
}

/// ICMP echo requests carrying the marker among captured tun frames.
fn echo_requests(frames: &[Frame]) -> usize {
    frames
        .iter()
        .filter_map(|f| f.ipv4().ok())
        .filter(|ip| {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            ip.get(9) == Some(&1)
                && ip.get(ihl) == Some(&8)
                && ip.windows(MARKER.len()).any(|w| w == MARKER)
        })
        .count()
}

#[test]
fn replayed_packets_are_counted_and_delivered_once() {
    require_root();
    let mut sc = Scenario::start("hostile-replay");
    let (mut t, nves) = setup();
    let b = &nves.dps[1];
    let tun = Sniffer::start(&t.nve(1).ns, TENANT_DEV, "icmp").unwrap();

    // One legitimate, delivered request: replay material that B has already seen.
    let to_b = format!("udp dst port 6081 and dst host {}", t.nve(1).addr);
    let cap = Sniffer::start(&t.nve(0).ns, UNDERLAY_DEV, &to_b).unwrap();
    assert_eq!(
        ping(&t.nve(0).ns, &tenant_addr(1).to_string(), 1, Some(MARKER)),
        1
    );
    let seen = Datagram::all_to_port(&cap.stop().unwrap().frames, 6081);
    assert_eq!(seen.len(), 1, "{seen:?}");
    // And one B never received.
    let fresh = unseen_packets(&mut t, 0, 1, 1, MARKER).unwrap();

    let attacker = Attacker::of(&t).unwrap();
    let c0 = DpCounters::fetch(b).unwrap();
    attacker.replay(&fresh).unwrap();
    let c1 = DpCounters::wait(b, |c| {
        c.get("delivered_secured") > c0.get("delivered_secured")
    })
    .unwrap();
    assert_eq!(c1.get("delivered_secured"), c0.get("delivered_secured") + 1);
    assert_eq!(c1.drop_delta(&c0), "");

    // Replays: the fresh packet three more times, the old one once.
    let replays = [
        fresh[0].clone(),
        fresh[0].clone(),
        fresh[0].clone(),
        seen[0].clone(),
    ];
    attacker.replay(&replays).unwrap();
    let c2 = DpCounters::wait(b, |c| c.drops() >= c1.drops() + 4).unwrap();
    sc.figure(format!("replay +{}", c2.get("replay") - c1.get("replay")));
    assert_eq!(c2.drop_delta(&c1), "replay=4");
    assert_eq!(c2.get("delivered_secured"), c1.get("delivered_secured"));

    // On B's tun: the first request and the fresh one, each exactly once.
    let tun = tun.stop().unwrap();
    assert_eq!(
        echo_requests(&tun.frames),
        2,
        "{} tun frames",
        tun.frames.len()
    );
    sc.pass("4 replays -> replay +4, delivered +0; tun saw each request once (2)");
}

/// One tampering: a name, how, and the drop reason gsa-dp must count.
struct Tamper {
    name: &'static str,
    apply: fn(&mut Vec<u8>),
    reason: &'static str,
}

fn tampers() -> Vec<Tamper> {
    vec![
        Tamper {
            name: "payload byte (ciphertext)",
            apply: |p| {
                let last = p.len() - 1;
                p[last] ^= 0x01;
            },
            reason: "bad_icv",
        },
        Tamper {
            name: "header VNI",
            apply: |p| p[off::VNI + 2] ^= 0x01,
            reason: "bad_icv",
        },
        Tamper {
            name: "option ICV byte",
            apply: |p| p[off::ICV] ^= 0x80,
            reason: "bad_icv",
        },
        Tamper {
            name: "option SN (+1000, still in the window)",
            apply: |p| {
                let sn = u32::from_be_bytes([p[12], p[13], p[14], p[15]]) + 1000;
                p[off::SN..off::SN + 4].copy_from_slice(&sn.to_be_bytes());
            },
            reason: "bad_icv",
        },
        Tamper {
            name: "option class 0xFF00 -> 0xFF01 (unknown critical)",
            apply: |p| p[off::CLASS + 1] ^= 0x01,
            reason: "unknown_critical",
        },
        Tamper {
            name: "header Opt Len beyond the packet",
            apply: |p| p[off::OPT_LEN] = 0x3f,
            reason: "malformed",
        },
        Tamper {
            name: "header version 1",
            apply: |p| p[off::OPT_LEN] |= 0x40,
            reason: "malformed",
        },
        Tamper {
            name: "GSA-ID",
            apply: |p| {
                p[off::GSA_ID..off::GSA_ID + 4].copy_from_slice(&0xdead_beef_u32.to_be_bytes())
            },
            reason: "no_gsa",
        },
        Tamper {
            name: "truncated inside the option",
            apply: |p| p.truncate(20),
            reason: "malformed",
        },
        Tamper {
            name: "truncated ciphertext (Covered Length beyond the packet)",
            apply: |p| {
                let n = p.len() - 5;
                p.truncate(n);
            },
            reason: "malformed",
        },
        Tamper {
            name: "oversized: 60000-byte ciphertext claimed by the GEO (IP fragments)",
            apply: |p| {
                p.truncate(off::AFTER);
                p.resize(off::AFTER + 60_000, 0x5a);
                p[off::COVERED_LEN..off::COVERED_LEN + 2].copy_from_slice(&60_000u16.to_be_bytes());
            },
            reason: "bad_icv",
        },
    ]
}

#[test]
fn tampered_truncated_and_oversized_packets_are_counted_by_reason() {
    require_root();
    let mut sc = Scenario::start("hostile-tamper");
    let (mut t, nves) = setup();
    let b = &nves.dps[1];
    let fresh = unseen_packets(&mut t, 0, 1, 2, MARKER).unwrap();
    let (f1, f2) = (fresh[0].clone(), fresh[1].clone());
    assert_eq!(
        &f1.payload[off::GSA_ID..off::GSA_ID + 4],
        gsa_id(0, 1).to_be_bytes()
    );
    let attacker = Attacker::of(&t).unwrap();
    let mut figures = Vec::new();
    for tp in tampers() {
        let mut d = f1.clone();
        (tp.apply)(&mut d.payload);
        let before = DpCounters::fetch(b).unwrap();
        attacker.send(&[d]).unwrap();
        let after = DpCounters::wait(b, |c| c.drops() > before.drops()).unwrap();
        assert_eq!(
            after.drop_delta(&before),
            format!("{}=1", tp.reason),
            "{}",
            tp.name
        );
        assert_eq!(
            after.get("delivered_secured"),
            before.get("delivered_secured")
        );
        figures.push(tp.reason);
        sc.figure(format!("{} tampers ok", figures.len()));
    }
    // Bytes appended after a valid packet: it verifies (and uses up its SN), but the payload
    // is no longer all covered, which the GSA demands.
    let mut tail = f2.clone();
    tail.payload.extend_from_slice(&[0u8; 64]);
    let before = DpCounters::fetch(b).unwrap();
    attacker.send(&[tail]).unwrap();
    let after = DpCounters::wait(b, |c| c.drops() > before.drops()).unwrap();
    assert_eq!(after.drop_delta(&before), "policy_mismatch=1");

    // None of the tampered copies moved the window: the original still goes through.
    attacker.send(&[f1]).unwrap();
    let last = DpCounters::wait(b, |c| {
        c.get("delivered_secured") > after.get("delivered_secured")
    })
    .unwrap();
    assert_eq!(
        last.get("delivered_secured"),
        after.get("delivered_secured") + 1
    );
    assert_eq!(last.drop_delta(&after), "");
    let count = |r: &str| figures.iter().filter(|x| **x == r).count();
    sc.pass(format!(
        "{} tampered: bad_icv {} unknown_critical {} malformed {} no_gsa {}; tail policy_mismatch 1; original delivered",
        figures.len(),
        count("bad_icv"),
        count("unknown_critical"),
        count("malformed"),
        count("no_gsa")
    ));
}

#[test]
fn random_datagrams_are_dropped_and_the_daemon_keeps_working() {
    require_root();
    let mut sc = Scenario::start("hostile-garbage");
    let (t, nves) = setup();
    let b = &nves.dps[1];
    let attacker = Attacker::of(&t).unwrap();
    let to = SocketAddrV4::new(t.nve(1).addr, 6081);
    // An empty datagram, 40 random ones of 1..1400 bytes, and a 9000-byte one (fragmented).
    let mut junk = vec![attacker.from_self(40000, to, Vec::new())];
    for i in 0..40u64 {
        let len = 1 + (random_bytes(i, 2)[0] as usize * 5 + random_bytes(i, 2)[1] as usize) % 1400;
        junk.push(attacker.from_self(40001 + i as u16, to, random_bytes(1000 + i, len)));
    }
    junk.push(attacker.from_self(40100, to, random_bytes(7, 9000)));
    let before = DpCounters::fetch(b).unwrap();
    attacker.send(&junk).unwrap();
    let n = junk.len() as u64;
    let after = DpCounters::wait(b, |c| c.drops() >= before.drops() + n).unwrap();
    let reasons = after.drop_delta(&before);
    sc.figure(format!("{n} random datagrams: {reasons}"));
    assert_eq!(after.drops() - before.drops(), n, "{reasons}");
    assert!(reasons.contains("malformed="), "{reasons}");
    assert_eq!(
        after.get("delivered_secured"),
        before.get("delivered_secured")
    );
    assert_eq!(
        after.get("delivered_bypass"),
        before.get("delivered_bypass")
    );

    // Still answering keying requests, and still carrying the tenant's traffic.
    let dump = b
        .client()
        .unwrap()
        .ok(r#"{"v":1,"seq":5,"op":"DUMP"}"#)
        .unwrap();
    assert!(
        dump.contains(&format!("\"gsa_id\":{}", gsa_id(0, 1))),
        "{dump}"
    );
    assert_eq!(
        ping(&t.nve(0).ns, &tenant_addr(1).to_string(), 3, Some(MARKER)),
        3
    );
    sc.pass(format!(
        "{n} random datagrams to 6081 all dropped ({reasons}); DUMP ok; ping 3/3"
    ));
}
