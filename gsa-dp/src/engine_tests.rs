//! Engine tests: exact bytes, tamper, replay, policy, coverage, hold/ACQUIRE, lifetimes.

use super::*;
use crate::gsa::{Algorithm, Coverage, GsaConfig, Padding, SecretKey};
use crate::gsp::{Sel, Selectors};
use crate::lifetime::{LifetimeConfig, Limits};
use crate::wire::inner::tests::{
    ethernet_tagged, ipv4_fragment, ipv4_udp, ipv6_ext_tcp, ipv6_fragment, ipv6_tcp,
};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use std::time::Duration;

pub(crate) const ID: u32 = 0x1001;

pub(crate) fn key(alg: Algorithm) -> SecretKey {
    SecretKey::new((0..alg.key_material_len() as u8).collect())
}

pub(crate) fn gsa(dir: Direction, alg: Algorithm, coverage: Coverage) -> GsaConfig {
    GsaConfig {
        dir,
        gsa_id: ID,
        reqid: 1,
        alg,
        key: key(alg),
        coverage,
        selectors: Selectors::default(),
        lifetime: LifetimeConfig::default(),
        replay_window: 1024,
        peer: None,
    }
}

pub(crate) fn secure(dir: Direction, gsos: Vec<Template>) -> Policy {
    Policy {
        id: 10,
        dir,
        selectors: Selectors {
            vni: Sel::value(42),
            ..Default::default()
        },
        action: Action::Secure { gsos },
    }
}

fn t(kind: GsoKind, reqid: u32) -> Template {
    Template { reqid, kind }
}

/// Sender A and receiver B sharing one GSA (and a second one with reqid 2 when `stack`).
pub(crate) fn pair(alg: Algorithm, coverage: Coverage) -> (Dataplane, Dataplane, Instant) {
    let now = Instant::now();
    let mut a = Dataplane::new(DataplaneConfig::default());
    let mut b = Dataplane::new(DataplaneConfig::default());
    let tm = vec![t(alg.kind(), 1)];
    a.set_gsp(vec![secure(Direction::Out, tm.clone())]).unwrap();
    b.set_gsp(vec![secure(Direction::In, tm)]).unwrap();
    a.add_gsa(now, gsa(Direction::Out, alg, coverage.clone()))
        .unwrap();
    b.add_gsa(now, gsa(Direction::In, alg, coverage)).unwrap();
    (a, b, now)
}

fn send(a: &mut Dataplane, now: Instant, inner: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 2048];
    match a.outbound(now, 42, 0x0800, inner, &mut out) {
        OutVerdict::Send { len } => out[..len].to_vec(),
        v => panic!("not sent: {v:?}"),
    }
}

fn deliver(b: &mut Dataplane, now: Instant, pkt: &[u8]) -> Result<(u32, u16, Vec<u8>), InVerdict> {
    let mut p = pkt.to_vec();
    match b.inbound(now, &mut p) {
        InVerdict::Deliver {
            vni,
            protocol_type,
            inner,
            ..
        } => Ok((vni, protocol_type, p[inner].to_vec())),
        v => Err(v),
    }
}

#[test]
fn known_geo_packet_exact_bytes() {
    let (mut a, _, now) = pair(Algorithm::AesGcm128, Coverage::default());
    let inner = ipv4_udp(b"hello");
    let pkt = send(&mut a, now, &inner);
    let cov = inner.len() + 2;
    // Fixed header: Ver 0, Opt Len 8 words, O=0, C=1, IPv4, VNI 42, reserved 0.
    assert_eq!(&pkt[..8], &[0x08, 0x40, 0x08, 0x00, 0x00, 0x00, 0x2a, 0x00]);
    // GEO: class 0xFF00, type 0x82 (critical), Length 7; SN 1; GSA-ID; Covered Length; Reserved 0.
    assert_eq!(&pkt[8..12], &[0xff, 0x00, 0x82, 0x07]);
    assert_eq!(&pkt[12..16], &[0, 0, 0, 1]);
    assert_eq!(&pkt[16..20], &ID.to_be_bytes());
    assert_eq!(&pkt[20..22], &(cov as u16).to_be_bytes());
    assert_eq!(&pkt[22..24], &[0, 0]);
    assert_eq!(pkt.len(), 40 + cov);
    // Decrypt by hand with RustCrypto: key 00..0f, salt 10..13, nonce = salt || SN64.
    let k = key(Algorithm::AesGcm128);
    let c = aes_gcm::Aes128Gcm::new_from_slice(&k.expose()[..16]).unwrap();
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&[0x10, 0x11, 0x12, 0x13]);
    nonce[11] = 1;
    let mut aad = vec![0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x2a, 0x00];
    aad.extend_from_slice(&1u64.to_be_bytes());
    aad.extend_from_slice(&ID.to_be_bytes());
    aad.extend_from_slice(&(cov as u16).to_be_bytes());
    let mut body = pkt[40..].to_vec();
    let tag = aes_gcm::Tag::clone_from_slice(&pkt[24..40]);
    c.decrypt_in_place_detached(aes_gcm::Nonce::from_slice(&nonce), &aad, &mut body, &tag)
        .unwrap();
    let mut want = inner.clone();
    want.extend_from_slice(&[0, 0]); // Pad Length 0, Flags 0
    assert_eq!(body, want);
    assert_ne!(
        &pkt[40..40 + inner.len()],
        &inner[..],
        "payload must not travel in clear"
    );
}

#[test]
fn geo_round_trip_and_counters() {
    let (mut a, mut b, now) = pair(Algorithm::AesGcm256, Coverage::default());
    for i in 0..5u8 {
        let inner = ipv4_udp(&[i; 100]);
        let pkt = send(&mut a, now, &inner);
        assert_eq!(deliver(&mut b, now, &pkt).unwrap(), (42, 0x0800, inner));
    }
    let g = b.gsas().inbound(ID).unwrap();
    assert_eq!(
        (g.counters.packets, g.counters.bytes, g.counters.last_use),
        (5, 5 * 128, Some(now))
    );
    assert_eq!(g.sn_high_water(), 5);
    assert_eq!(a.gsas().outbound(1).unwrap().counters.packets, 5);
    assert_eq!(
        (a.stats().sent_secured, b.stats().delivered_secured),
        (5, 5)
    );
}

#[test]
fn replayed_packet_dropped() {
    let (mut a, mut b, now) = pair(Algorithm::AesGcm128, Coverage::default());
    let p1 = send(&mut a, now, &ipv4_udp(b"1"));
    let p2 = send(&mut a, now, &ipv4_udp(b"2"));
    assert!(deliver(&mut b, now, &p2).is_ok());
    assert!(
        deliver(&mut b, now, &p1).is_ok(),
        "reordered inside the window"
    );
    assert_eq!(
        deliver(&mut b, now, &p1),
        Err(InVerdict::Drop(DropReason::Replay))
    );
    assert_eq!(b.stats().drops.get(DropReason::Replay), 1);
}

/// Expected outcome of flipping the top bit of byte `i` of a GEO packet.
fn tamper_expectation(i: usize) -> Option<DropReason> {
    match i {
        0 => Some(DropReason::Malformed),           // version 2
        1 => Some(DropReason::BadIcv),              // O bit is authenticated
        2..=6 => Some(DropReason::BadIcv),          // Protocol Type, VNI
        7 => None,                                  // Reserved: ignored on receipt
        8..=9 => Some(DropReason::UnknownCritical), // not our class any more, still critical
        10 => None, // type 0x02: not critical, not ours: a plain option; then policy
        11 => Some(DropReason::Malformed), // R bit set ignored? 0x87: R=100, Length 7 -> ignored
        12..=15 => Some(DropReason::BadIcv), // SN
        16..=19 => Some(DropReason::NoGsa), // GSA-ID
        20..=21 => Some(DropReason::Malformed), // Covered Length beyond the packet
        22..=23 => None, // GSO Reserved: ignored
        _ => Some(DropReason::BadIcv), // ICV and ciphertext
    }
}

#[test]
fn tamper_any_byte_is_dropped_with_reason() {
    let (mut a, _, now) = pair(Algorithm::AesGcm128, Coverage::default());
    let inner = ipv4_udp(&[7; 40]);
    let pkt = send(&mut a, now, &inner);
    for i in 0..pkt.len() {
        let (_, mut b, _) = pair(Algorithm::AesGcm128, Coverage::default());
        let mut bad = pkt.clone();
        bad[i] ^= 0x80;
        let got = deliver(&mut b, now, &bad);
        match (i, tamper_expectation(i)) {
            (10, _) => assert_eq!(
                got,
                Err(InVerdict::Drop(DropReason::PolicyMismatch)),
                "byte {i}"
            ),
            (11, _) => assert_eq!(got.unwrap().2, inner, "R bits are ignored on receipt"),
            (_, Some(r)) => assert_eq!(got, Err(InVerdict::Drop(r)), "byte {i}"),
            (_, None) => assert_eq!(got.unwrap().2, inner, "byte {i} is ignored on receipt"),
        }
    }
    // A shorter Covered Length changes the AAD and the ciphertext: bad ICV.
    let (_, mut b, _) = pair(Algorithm::AesGcm128, Coverage::default());
    let mut p = pkt.clone();
    p[21] -= 2;
    assert_eq!(
        deliver(&mut b, now, &p),
        Err(InVerdict::Drop(DropReason::BadIcv))
    );
    // Rsvd bits and C bit of the fixed header are ignored / not authenticated.
    let (_, mut b, _) = pair(Algorithm::AesGcm128, Coverage::default());
    let mut p = pkt.clone();
    p[1] ^= 0x3f;
    assert!(deliver(&mut b, now, &p).is_ok());
}

#[test]
fn policy_checks() {
    let (mut a, mut b, now) = pair(Algorithm::AesGcm128, Coverage::default());
    // Inbound policy demands reqid 2: a valid GSO for reqid 1 is not enough.
    b.set_gsp(vec![secure(Direction::In, vec![t(GsoKind::Geo, 2)])])
        .unwrap();
    let pkt = send(&mut a, now, &ipv4_udp(b"x"));
    assert_eq!(
        deliver(&mut b, now, &pkt),
        Err(InVerdict::Drop(DropReason::PolicyMismatch))
    );
    // A plain packet where the policy says SECURE.
    let mut plain = Dataplane::new(DataplaneConfig::default());
    plain
        .set_gsp(vec![Policy {
            action: Action::Bypass,
            ..secure(Direction::Out, vec![])
        }])
        .unwrap();
    let clear = send(&mut plain, now, &ipv4_udp(b"x"));
    assert_eq!(&clear[..8], &[0, 0, 8, 0, 0, 0, 42, 0]);
    b.set_gsp(vec![secure(Direction::In, vec![t(GsoKind::Geo, 1)])])
        .unwrap();
    assert_eq!(
        deliver(&mut b, now, &clear),
        Err(InVerdict::Drop(DropReason::PolicyMismatch))
    );
    // BYPASS inbound delivers; no policy at all is DISCARD.
    b.set_gsp(vec![Policy {
        action: Action::Bypass,
        ..secure(Direction::In, vec![])
    }])
    .unwrap();
    assert_eq!(deliver(&mut b, now, &clear).unwrap().0, 42);
    b.set_gsp(vec![]).unwrap();
    assert_eq!(
        deliver(&mut b, now, &clear),
        Err(InVerdict::Drop(DropReason::Discard))
    );
    // Outbound with no policy: DISCARD, nothing written.
    let mut out = [0u8; 256];
    assert_eq!(
        plain.outbound(now, 7, 0x0800, &ipv4_udp(b"x"), &mut out),
        OutVerdict::Drop(DropReason::Discard)
    );
}

#[test]
fn gsa_selectors_checked_after_decrypt() {
    let (mut a, mut b, now) = pair(Algorithm::AesGcm128, Coverage::default());
    let key = GsaKey::inbound(ID, 1);
    let sel = Selectors {
        dst_port: Sel::value(80),
        ..Default::default()
    };
    b.update_gsa(
        key,
        GsaUpdate {
            selectors: Some(sel),
            lifetime: None,
        },
    )
    .unwrap();
    let pkt = send(&mut a, now, &ipv4_udp(b"x")); // dst port 53
    assert_eq!(
        deliver(&mut b, now, &pkt),
        Err(InVerdict::Drop(DropReason::PolicyMismatch))
    );
}

#[test]
fn gao_gmac_and_hmac_round_trip_and_tamper() {
    for alg in [
        Algorithm::AesGmac128,
        Algorithm::AesGmac256,
        Algorithm::HmacSha256_128,
    ] {
        let (mut a, mut b, now) = pair(alg, Coverage::default());
        let inner = ipv6_tcp(b"payload");
        let mut out = vec![0u8; 512];
        let OutVerdict::Send { len } = a.outbound(now, 42, 0x86dd, &inner, &mut out) else {
            panic!()
        };
        let pkt = out[..len].to_vec();
        assert_eq!(&pkt[8..12], &[0xff, 0x00, 0x01, 0x07], "{alg:?}");
        assert_eq!(pkt[1] & 0x40, 0, "GAO is not critical");
        assert_eq!(&pkt[40..], &inner[..], "GAO leaves the payload in clear");
        assert_eq!(
            deliver(&mut b, now, &pkt).unwrap(),
            (42, 0x86dd, inner.clone())
        );
        let (_, mut b2, _) = pair(alg, Coverage::default());
        let mut bad = pkt.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(
            deliver(&mut b2, now, &bad),
            Err(InVerdict::Drop(DropReason::BadIcv)),
            "{alg:?}"
        );
    }
}

#[test]
fn hmac_gao_icv_is_draft_literal() {
    use hmac::{Hmac, Mac};
    let (mut a, _, now) = pair(Algorithm::HmacSha256_128, Coverage::default());
    let inner = ipv4_udp(b"abc");
    let pkt = send(&mut a, now, &inner);
    let mut m =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(key(Algorithm::HmacSha256_128).expose())
            .unwrap();
    m.update(b"geneve authentication option");
    m.update(&[0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x2a, 0x00]);
    m.update(&1u64.to_be_bytes());
    m.update(&ID.to_be_bytes());
    m.update(&(inner.len() as u16).to_be_bytes());
    m.update(&inner);
    assert_eq!(&pkt[24..40], &m.finalize().into_bytes()[..16]);
}

#[test]
fn partial_payload_coverage() {
    let cov = Coverage {
        payload: PayloadCoverage::First(20),
        ..Default::default()
    };
    let (mut a, mut b, now) = pair(Algorithm::AesGcm128, cov);
    let inner = ipv4_udp(&[9; 64]);
    let pkt = send(&mut a, now, &inner);
    assert_eq!(&pkt[20..22], &22u16.to_be_bytes(), "20 bytes + trailer");
    assert_eq!(&pkt[40 + 22..], &inner[20..], "the rest stays clear");
    assert_eq!(deliver(&mut b, now, &pkt).unwrap().2, inner);
    // A receiver demanding full coverage refuses it.
    let (_, mut full, _) = pair(Algorithm::AesGcm128, Coverage::default());
    assert_eq!(
        deliver(&mut full, now, &pkt),
        Err(InVerdict::Drop(DropReason::PolicyMismatch))
    );
}

#[test]
fn inner_headers_only_and_after_inner_headers() {
    let inner = ipv6_tcp(&[5; 50]);
    let cov = Coverage {
        payload: PayloadCoverage::InnerHeaders,
        ..Default::default()
    };
    let (mut a, mut b, now) = pair(Algorithm::AesGcm128, cov);
    let mut out = vec![0u8; 512];
    let OutVerdict::Send { len } = a.outbound(now, 42, 0x86dd, &inner, &mut out) else {
        panic!()
    };
    assert_eq!(&out[20..22], &62u16.to_be_bytes());
    assert_eq!(
        &out[40 + 62..len],
        &inner[60..],
        "data after the headers stays clear"
    );
    assert_eq!(deliver(&mut b, now, &out[..len]).unwrap().2, inner);

    let cov = Coverage {
        payload: PayloadCoverage::AfterInnerHeaders,
        ..Default::default()
    };
    let (mut a, mut b, now) = pair(Algorithm::AesGcm128, cov);
    let OutVerdict::Send { len } = a.outbound(now, 42, 0x86dd, &inner, &mut out) else {
        panic!()
    };
    assert_eq!(&out[40..100], &inner[..60], "tenant headers readable");
    assert_ne!(&out[100..150], &inner[60..]);
    assert_eq!(deliver(&mut b, now, &out[..len]).unwrap().2, inner.clone());
    // The clear headers are authenticated (in the AAD).
    let (mut a, mut b, now) = pair(
        Algorithm::AesGcm128,
        Coverage {
            payload: PayloadCoverage::AfterInnerHeaders,
            ..Default::default()
        },
    );
    let OutVerdict::Send { len } = a.outbound(now, 42, 0x86dd, &inner, &mut out) else {
        panic!()
    };
    out[40 + 43] ^= 1; // TCP destination port
    assert_eq!(
        deliver(&mut b, now, &out[..len]),
        Err(InVerdict::Drop(DropReason::BadIcv))
    );
}

#[test]
fn padding_and_hidden_header() {
    let cov = Coverage {
        padding: Padding::Multiple(64),
        hidden_header: true,
        ..Default::default()
    };
    let (mut a, mut b, now) = pair(Algorithm::AesGcm128, cov);
    let inner = ipv4_udp(b"short");
    let pkt = send(&mut a, now, &inner);
    let covered = u16::from_be_bytes([pkt[20], pkt[21]]);
    assert_eq!(covered % 64, 0);
    assert_eq!(
        &pkt[2..8],
        &[0, 0, 0, 0, 0, 0],
        "VNI and Protocol Type hidden"
    );
    assert_eq!(
        deliver(&mut b, now, &pkt).unwrap(),
        (42, 0x0800, inner.clone())
    );
    for (fixed, want) in [(200u16, 200u16), (300, 35 + 255)] {
        // Pad Length is one byte: a target more than 255 bytes away is approached, not reached.
        let cov = Coverage {
            padding: Padding::Fixed(fixed),
            ..Default::default()
        };
        let (mut a, mut b, now) = pair(Algorithm::AesGcm128, cov);
        let pkt = send(&mut a, now, &inner);
        assert_eq!(u16::from_be_bytes([pkt[20], pkt[21]]), want);
        assert_eq!(deliver(&mut b, now, &pkt).unwrap().2, inner);
    }
}

#[test]
fn dummy_packets() {
    let cov = Coverage {
        dummy_interval_ms: Some(100),
        padding: Padding::Fixed(128),
        ..Default::default()
    };
    let (mut a, mut b, now) = pair(Algorithm::AesGcm128, cov);
    let mut out = vec![0u8; 512];
    assert!(a.poll_transmit(now, &mut out).is_none());
    assert_eq!(a.next_deadline(), Some(now + Duration::from_millis(100)));
    let later = now + Duration::from_millis(100);
    let tx = a.poll_transmit(later, &mut out).unwrap();
    assert_eq!(tx.vni, 0);
    assert_eq!(tx.len, 40 + 128);
    assert!(a.poll_transmit(later, &mut out).is_none());
    let mut p = out[..tx.len].to_vec();
    assert_eq!(b.inbound(later, &mut p), InVerdict::Dummy);
    assert_eq!(b.stats().dummies_received, 1);
    // A replayed dummy is still a replay.
    let mut p = out[..tx.len].to_vec();
    assert_eq!(
        b.inbound(later, &mut p),
        InVerdict::Drop(DropReason::Replay)
    );
}

/// Issue 14: `1000 / rate` is 0 ms for a rate above 1000/s, and a 0 ms interval made every
/// `poll_transmit` return a dummy, so the daemon's drain loop never ended (holding the lock).
#[test]
fn dummy_rate_is_bounded() {
    let now = Instant::now();
    let mut a = Dataplane::new(DataplaneConfig::default());
    let cov = |ms| Coverage {
        dummy_interval_ms: Some(ms),
        ..Default::default()
    };
    // What the daemon computes for 5000/s: refused, with the documented maximum.
    let zero = a.add_gsa(
        now,
        gsa(Direction::Out, Algorithm::AesGcm128, cov(1000 / 5000)),
    );
    assert_eq!(zero, Err(GsaError::DummyInterval));
    assert!(zero
        .unwrap_err()
        .to_string()
        .contains("1000 dummy packets per second"));
    assert_eq!(a.gsas().len(), 0);
    // The fastest accepted rate: one dummy per `now`, however often polled.
    a.add_gsa(now, gsa(Direction::Out, Algorithm::AesGcm128, cov(1)))
        .unwrap();
    let mut out = vec![0u8; 512];
    let mut polled = |at: Instant| {
        (0..100)
            .filter_map(|_| a.poll_transmit(at, &mut out))
            .count()
    };
    assert_eq!(polled(now), 0);
    let t1 = now + Duration::from_millis(1);
    assert_eq!(polled(t1), 1);
    // A late poll (the loop stalled for a second) sends one, not a burst of 1000.
    let t2 = t1 + Duration::from_secs(1);
    assert_eq!(polled(t2), 1);
    assert_eq!(a.next_deadline(), Some(t2 + Duration::from_millis(1)));
    assert_eq!(a.stats().dummies_sent, 2);
}

/// Issue 14: a frame whose selectors cannot all be read never takes a BYPASS policy. Each
/// policy set secures some traffic and bypasses the rest of the VNI (ARP, say); a frame of the
/// secured traffic whose ports or protocol the parser could not read used to fall through to
/// the BYPASS and leave in clear.
#[test]
fn unreadable_selectors_never_bypass() {
    let (mut a, _, now) = pair(Algorithm::AesGcm128, Coverage::default());
    let policies = |ip_proto: u8, port: u16| {
        let mut sec = secure(Direction::Out, vec![t(GsoKind::Geo, 1)]);
        sec.selectors.ip_proto = Sel::value(ip_proto);
        sec.selectors.dst_port = Sel::value(port);
        let bypass_ports = Policy {
            id: 11,
            dir: Direction::Out,
            selectors: Selectors {
                vni: Sel::value(42),
                ip_proto: Sel::value(ip_proto),
                dst_port: Sel::Opaque,
                ..Default::default()
            },
            action: Action::Bypass,
        };
        let bypass_rest = Policy {
            id: 12,
            selectors: Selectors {
                vni: Sel::value(42),
                ..Default::default()
            },
            ..bypass_ports.clone()
        };
        vec![sec, bypass_ports, bypass_rest]
    };
    let mut out = vec![0u8; 2048];
    let mut verdict =
        |a: &mut Dataplane, ptype: u16, f: &[u8]| match a.outbound(now, 42, ptype, f, &mut out) {
            OutVerdict::Send { len } if out[8..12] == [0xff, 0x00, 0x82, 0x07] => Ok(len),
            OutVerdict::Send { len } => {
                assert_eq!(&out[8..len], f, "sent in clear");
                Err(None)
            }
            v => Err(Some(v)),
        };
    let unreadable = Err(Some(OutVerdict::Drop(DropReason::Unreadable)));

    // UDP to port 53 is secured, other UDP bypassed.
    a.set_gsp(policies(17, 53)).unwrap();
    assert!(verdict(&mut a, 0x0800, &ipv4_udp(b"dns")).is_ok());
    // A later fragment of a datagram to port 53: its ports are not in it.
    assert_eq!(verdict(&mut a, 0x0800, &ipv4_fragment(0x20)), unreadable);
    // QinQ (802.1ad S-tag + 802.1Q C-tag) is read: the DNS datagram inside is secured.
    let qinq = ethernet_tagged(&[0x88a8, 0x8100]);
    assert!(verdict(&mut a, 0x6558, &qinq).is_ok());
    let triple = ethernet_tagged(&[0x88a8, 0x8100, 0x8100]);
    assert_eq!(verdict(&mut a, 0x6558, &triple), unreadable);
    // ARP is read in full and takes the BYPASS.
    let mut arp = vec![0xff; 12];
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[1; 28]);
    assert_eq!(verdict(&mut a, 0x6558, &arp), Err(None));

    // TCP to port 443 is secured, other TCP bypassed.
    a.set_gsp(policies(6, 443)).unwrap();
    assert!(verdict(&mut a, 0x86dd, &ipv6_ext_tcp(8)).is_ok());
    assert_eq!(verdict(&mut a, 0x86dd, &ipv6_ext_tcp(9)), unreadable);
    assert_eq!(verdict(&mut a, 0x86dd, &ipv6_fragment(3)), unreadable);
    assert!(verdict(&mut a, 0x86dd, &ipv6_fragment(0)).is_ok());
    assert_eq!(a.stats().drops.get(DropReason::Unreadable), 4);
    assert_eq!(a.stats().drops.get(DropReason::Discard), 0);

    // A SECURE policy that leaves the ports OPAQUE takes them.
    let mut all_tcp = secure(Direction::Out, vec![t(GsoKind::Geo, 1)]);
    all_tcp.selectors.ip_proto = Sel::value(6);
    let mut p = policies(6, 443);
    p.insert(1, all_tcp);
    a.set_gsp(p).unwrap();
    assert!(verdict(&mut a, 0x86dd, &ipv6_fragment(3)).is_ok());
    // The upper layer of the 9-header chain is unknown: not even that.
    assert_eq!(verdict(&mut a, 0x86dd, &ipv6_ext_tcp(9)), unreadable);
}

/// Inbound, a clear frame with unreadable selectors does not take a BYPASS either.
#[test]
fn unreadable_selectors_never_bypass_inbound() {
    let mut b = Dataplane::new(DataplaneConfig::default());
    let bypass = Policy {
        id: 1,
        dir: Direction::In,
        selectors: Selectors {
            vni: Sel::value(42),
            ..Default::default()
        },
        action: Action::Bypass,
    };
    b.set_gsp(vec![bypass]).unwrap();
    let clear = |f: &[u8]| {
        let mut p = vec![0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x2a, 0x00];
        p.extend_from_slice(f);
        p
    };
    let now = Instant::now();
    assert!(matches!(
        b.inbound(now, &mut clear(&ipv4_udp(b"x"))),
        InVerdict::Deliver { .. }
    ));
    assert_eq!(
        b.inbound(now, &mut clear(&ipv4_fragment(1))),
        InVerdict::Drop(DropReason::Unreadable)
    );
    assert_eq!(b.stats().drops.get(DropReason::Unreadable), 1);
}

#[test]
fn acquire_hold_then_release() {
    let now = Instant::now();
    let mut a = Dataplane::new(DataplaneConfig::default());
    a.set_gsp(vec![secure(Direction::Out, vec![t(GsoKind::Geo, 1)])])
        .unwrap();
    let mut out = vec![0u8; 512];
    let inner = ipv4_udp(b"first");
    assert_eq!(
        a.outbound(now, 42, 0x0800, &inner, &mut out),
        OutVerdict::Queued
    );
    match a.poll_event() {
        Some(Event::Acquire {
            policy_id: 10,
            reqid: 1,
            kind: GsoKind::Geo,
            vni: 42,
            dst_port: Some(53),
            ..
        }) => {}
        e => panic!("{e:?}"),
    }
    for _ in 0..limits::HOLD_PER_REQID - 1 {
        assert_eq!(
            a.outbound(now, 42, 0x0800, &inner, &mut out),
            OutVerdict::Queued
        );
    }
    assert_eq!(a.poll_event(), None, "rate-limited");
    assert_eq!(
        a.outbound(now, 42, 0x0800, &inner, &mut out),
        OutVerdict::Drop(DropReason::QueueFull)
    );
    assert_eq!(a.stats().drops.get(DropReason::QueueFull), 1);
    assert_eq!(
        a.stats().sent_bypass + a.stats().sent_secured,
        0,
        "never sent in clear"
    );
    // GSA arrives: held packets are sealed and released.
    a.add_gsa(
        now,
        gsa(Direction::Out, Algorithm::AesGcm128, Coverage::default()),
    )
    .unwrap();
    let mut b = Dataplane::new(DataplaneConfig::default());
    b.set_gsp(vec![secure(Direction::In, vec![t(GsoKind::Geo, 1)])])
        .unwrap();
    b.add_gsa(
        now,
        gsa(Direction::In, Algorithm::AesGcm128, Coverage::default()),
    )
    .unwrap();
    let mut n = 0;
    while let Some(tx) = a.poll_transmit(now, &mut out) {
        assert_eq!(tx.vni, 42);
        assert_eq!(deliver(&mut b, now, &out[..tx.len]).unwrap().2, inner);
        n += 1;
    }
    assert_eq!(n, limits::HOLD_PER_REQID);
    assert_eq!(a.held(), 0);
}

#[test]
fn held_packets_time_out() {
    let now = Instant::now();
    let mut a = Dataplane::new(DataplaneConfig::default());
    a.set_gsp(vec![secure(Direction::Out, vec![t(GsoKind::Geo, 1)])])
        .unwrap();
    let mut out = vec![0u8; 512];
    assert_eq!(
        a.outbound(now, 42, 0x0800, &ipv4_udp(b"x"), &mut out),
        OutVerdict::Queued
    );
    assert_eq!(a.next_deadline(), Some(now + limits::HOLD_TIMEOUT));
    a.handle_timeout(now + limits::HOLD_TIMEOUT);
    assert_eq!(a.held(), 0);
    assert_eq!(a.stats().drops.get(DropReason::HoldTimeout), 1);
}

#[test]
fn lifetimes_raise_expire_once_and_hard_removes() {
    let (mut a, _, now) = pair(Algorithm::AesGcm128, Coverage::default());
    let key = GsaKey::outbound(ID, 1, None);
    let lt = LifetimeConfig {
        soft: Limits {
            packets: Some(2),
            ..Default::default()
        },
        hard: Limits {
            packets: Some(3),
            time_secs: Some(60),
            ..Default::default()
        },
    };
    a.update_gsa(
        key,
        GsaUpdate {
            lifetime: Some(lt),
            selectors: None,
        },
    )
    .unwrap();
    send(&mut a, now, &ipv4_udp(b"1"));
    assert_eq!(a.poll_event(), None);
    send(&mut a, now, &ipv4_udp(b"2"));
    assert_eq!(
        a.poll_event(),
        Some(Event::Expire {
            dir: Direction::Out,
            gsa_id: ID,
            reqid: 1,
            peer: None,
            kind: ExpireKind::Soft
        })
    );
    send(&mut a, now, &ipv4_udp(b"3"));
    assert_eq!(
        a.poll_event(),
        Some(Event::Expire {
            dir: Direction::Out,
            gsa_id: ID,
            reqid: 1,
            peer: None,
            kind: ExpireKind::Hard
        })
    );
    assert!(a.gsas().outbound(1).is_none());
    let mut out = vec![0u8; 256];
    assert_eq!(
        a.outbound(now, 42, 0x0800, &ipv4_udp(b"4"), &mut out),
        OutVerdict::Queued
    );
    assert!(matches!(a.poll_event(), Some(Event::Acquire { .. })));
    assert_eq!(a.poll_event(), None);
}

#[test]
fn time_lifetime_via_handle_timeout() {
    let (_, mut b, now) = pair(Algorithm::AesGcm128, Coverage::default());
    let key = GsaKey::inbound(ID, 1);
    let lt = LifetimeConfig {
        soft: Limits {
            time_secs: Some(10),
            ..Default::default()
        },
        hard: Limits {
            time_secs: Some(20),
            ..Default::default()
        },
    };
    b.update_gsa(
        key,
        GsaUpdate {
            lifetime: Some(lt),
            selectors: None,
        },
    )
    .unwrap();
    assert_eq!(b.next_deadline(), Some(now + Duration::from_secs(10)));
    b.handle_timeout(now + Duration::from_secs(10));
    assert_eq!(
        b.poll_event(),
        Some(Event::Expire {
            dir: Direction::In,
            gsa_id: ID,
            reqid: 1,
            peer: None,
            kind: ExpireKind::Soft
        })
    );
    b.handle_timeout(now + Duration::from_secs(15));
    assert_eq!(b.poll_event(), None);
    b.handle_timeout(now + Duration::from_secs(20));
    assert_eq!(
        b.poll_event(),
        Some(Event::Expire {
            dir: Direction::In,
            gsa_id: ID,
            reqid: 1,
            peer: None,
            kind: ExpireKind::Hard
        })
    );
    assert!(b.gsas().is_empty());
    assert_eq!(b.next_deadline(), None);
}

/// GEO then GAO (ESP+AH style): the GAO is first on the wire and authenticates the GEO.
#[test]
fn stacked_geo_then_gao() {
    let now = Instant::now();
    let mut a = Dataplane::new(DataplaneConfig::default());
    let mut b = Dataplane::new(DataplaneConfig::default());
    let tm = vec![t(GsoKind::Geo, 1), t(GsoKind::Gao, 2)];
    a.set_gsp(vec![secure(Direction::Out, tm.clone())]).unwrap();
    b.set_gsp(vec![secure(Direction::In, tm)]).unwrap();
    for (dp, dir) in [(&mut a, Direction::Out), (&mut b, Direction::In)] {
        dp.add_gsa(now, gsa(dir, Algorithm::AesGcm128, Coverage::default()))
            .unwrap();
        let mut g = gsa(dir, Algorithm::AesGmac128, Coverage::default());
        g.gsa_id = 0x2002;
        g.reqid = 2;
        dp.add_gsa(now, g).unwrap();
    }
    let inner = ipv4_udp(&[3; 30]);
    let pkt = send(&mut a, now, &inner);
    assert_eq!(pkt[0] & 0x3f, 16, "two options");
    assert_eq!(
        &pkt[8..12],
        &[0xff, 0x00, 0x01, 0x07],
        "GAO first on the wire"
    );
    assert_eq!(&pkt[40..44], &[0xff, 0x00, 0x82, 0x07], "GEO last");
    assert_eq!(deliver(&mut b, now, &pkt).unwrap().2, inner);
    // Tampering the GEO ciphertext is caught by the outer GAO.
    let mut bad = send(&mut a, now, &inner);
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(
        deliver(&mut b, now, &bad),
        Err(InVerdict::Drop(DropReason::BadIcv))
    );
    // Stripping the GAO (a valid GEO alone) fails the final policy check.
    let mut stripped = send(&mut a, now, &inner);
    stripped.drain(8..40);
    stripped[0] = 0x08;
    assert_eq!(
        deliver(&mut b, now, &stripped),
        Err(InVerdict::Drop(DropReason::PolicyMismatch))
    );
}

#[test]
fn options_encrypted_or_clear() {
    let opt = [0x01, 0x02, 0x03, 0x01, 0xaa, 0xbb, 0xcc, 0xdd]; // class 0x0102, type 3, 4 bytes
    for (options, visible) in [
        (OptionCoverage::All, false),
        (OptionCoverage::None, true),
        (OptionCoverage::List(vec![(0x0102, 3)]), false),
    ] {
        let cov = Coverage {
            options: options.clone(),
            ..Default::default()
        };
        let (mut a, mut b, now) = pair(Algorithm::AesGcm128, cov);
        let req = Selectors {
            vni: Sel::value(42),
            required_options: vec![(0x0102, 3)],
            ..Default::default()
        };
        b.set_gsp(vec![Policy {
            selectors: req,
            ..secure(Direction::In, vec![t(GsoKind::Geo, 1)])
        }])
        .unwrap();
        let inner = ipv4_udp(b"opts");
        let mut out = vec![0u8; 512];
        let OutVerdict::Send { len } =
            a.outbound_with_options(now, 42, 0x0800, &opt, &inner, &mut out)
        else {
            panic!()
        };
        let clear = out[..len].windows(8).any(|w| w == opt);
        assert_eq!(clear, visible, "{options:?}");
        assert_eq!(out[0] & 0x3f, if visible { 10 } else { 8 });
        // Restored options satisfy the required-options selector.
        assert_eq!(
            deliver(&mut b, now, &out[..len]).unwrap().2,
            inner,
            "{options:?}"
        );
    }
}

#[test]
fn listed_option_left_uncovered_is_refused() {
    // Sender covers nothing, receiver's GSA says the option must be covered.
    let opt = [0x01, 0x02, 0x03, 0x01, 0xaa, 0xbb, 0xcc, 0xdd];
    let (mut a, mut b, now) = pair(
        Algorithm::AesGcm128,
        Coverage {
            options: OptionCoverage::None,
            ..Default::default()
        },
    );
    b.del_gsa(GsaKey::inbound(ID, 1)).unwrap();
    let cov = Coverage {
        options: OptionCoverage::List(vec![(0x0102, 3)]),
        ..Default::default()
    };
    b.add_gsa(now, gsa(Direction::In, Algorithm::AesGcm128, cov))
        .unwrap();
    let mut out = vec![0u8; 512];
    let OutVerdict::Send { len } =
        a.outbound_with_options(now, 42, 0x0800, &opt, &ipv4_udp(b"x"), &mut out)
    else {
        panic!()
    };
    assert_eq!(
        b.inbound(now, &mut out[..len]),
        InVerdict::Drop(DropReason::PolicyMismatch)
    );
}

#[test]
fn unknown_critical_and_malformed() {
    let (_, mut b, now) = pair(Algorithm::AesGcm128, Coverage::default());
    b.set_gsp(vec![Policy {
        action: Action::Bypass,
        ..secure(Direction::In, vec![])
    }])
    .unwrap();
    let mut p = vec![0x01, 0x40, 0x08, 0x00, 0, 0, 42, 0, 0x01, 0x02, 0x85, 0x00];
    p.extend_from_slice(&ipv4_udp(b"x"));
    assert_eq!(
        b.inbound(now, &mut p.clone()),
        InVerdict::Drop(DropReason::UnknownCritical)
    );
    p[10] = 0x05; // same option, not critical: ignored
    assert!(matches!(
        b.inbound(now, &mut p.clone()),
        InVerdict::Deliver { .. }
    ));
    p[11] = 0x01; // option length overruns Opt Len
    assert_eq!(
        b.inbound(now, &mut p.clone()),
        InVerdict::Drop(DropReason::Malformed)
    );
    assert_eq!(
        b.inbound(now, &mut [0u8; 7]),
        InVerdict::Drop(DropReason::Malformed)
    );
    assert_eq!(b.stats().drops.get(DropReason::Malformed), 2);
}

#[test]
fn buffer_too_small_is_an_error_not_a_panic() {
    let (mut a, _, now) = pair(Algorithm::AesGcm128, Coverage::default());
    let mut out = vec![0u8; 60];
    assert_eq!(
        a.outbound(now, 42, 0x0800, &ipv4_udp(&[0; 100]), &mut out),
        OutVerdict::Drop(DropReason::BufferTooSmall)
    );
}

/// Issue 14: every sealing path takes its SN (the nonce's low half) before the AEAD runs, so a
/// seal that fails (or panics) half-way can never be followed by a second seal with that SN.
#[test]
fn failed_seal_still_spends_its_sn() {
    let (mut a, mut b, now) = pair(Algorithm::AesGcm128, Coverage::default());
    let mut small = vec![0u8; 60];
    let big = ipv4_udp(&[7; 100]);
    assert_eq!(
        a.outbound(now, 42, 0x0800, &big, &mut small),
        OutVerdict::Drop(DropReason::BufferTooSmall)
    );
    assert_eq!(a.gsas.outbound(1).unwrap().sn_high_water(), 1);
    let pkt = send(&mut a, now, &big);
    assert_eq!(&pkt[12..16], &[0, 0, 0, 2], "SN 1 is never used twice");
    assert_eq!(deliver(&mut b, now, &pkt).unwrap().2, big);
    assert_eq!(a.gsas.outbound(1).unwrap().counters.packets, 1);

    // Dummies too.
    let cov = Coverage {
        dummy_interval_ms: Some(10),
        ..Default::default()
    };
    let (mut a, _, now) = pair(Algorithm::AesGcm128, cov);
    let later = now + Duration::from_millis(10);
    assert!(a.poll_transmit(later, &mut [0u8; 8]).is_none());
    let mut out = vec![0u8; 512];
    let later = later + Duration::from_millis(10);
    let tx = a.poll_transmit(later, &mut out).unwrap();
    assert_eq!(&out[12..16], &[0, 0, 0, 2]);
    assert_eq!(tx.len, 40 + 8, "hidden header, Pad Length, Flags");
}

#[test]
fn esn_crossing_on_the_wire() {
    let (mut a, mut b, now) = pair(Algorithm::AesGcm128, Coverage::default());
    a.gsas.outbound_to_mut(1, None).unwrap().last_sn = (1 << 32) - 3;
    b.gsas
        .inbound_mut(ID)
        .unwrap()
        .replay
        .update((1 << 32) - 3)
        .unwrap();
    let pkts: Vec<_> = (0..5).map(|i| send(&mut a, now, &ipv4_udp(&[i]))).collect();
    assert_eq!(&pkts[2][12..16], &[0, 0, 0, 0], "SN low half wrapped to 0");
    // Deliver out of order across the boundary.
    for i in [1, 3, 0, 4, 2] {
        assert_eq!(
            deliver(&mut b, now, &pkts[i]).unwrap().2,
            ipv4_udp(&[i as u8]),
            "packet {i}"
        );
    }
    assert_eq!(b.gsas().inbound(ID).unwrap().sn_high_water(), (1 << 32) + 2);
}

/// ARCH-00 §7.2: a GAO whose GSA-ID the receiver does not know is skipped like an unknown
/// non-critical option; the final policy check decides.
#[test]
fn unknown_gao_is_skipped_then_policy_decides() {
    let now = Instant::now();
    let mut a = Dataplane::new(DataplaneConfig::default());
    a.set_gsp(vec![secure(
        Direction::Out,
        vec![t(GsoKind::Geo, 1), t(GsoKind::Gao, 2)],
    )])
    .unwrap();
    a.add_gsa(
        now,
        gsa(Direction::Out, Algorithm::AesGcm128, Coverage::default()),
    )
    .unwrap();
    let mut g = gsa(
        Direction::Out,
        Algorithm::HmacSha256_128,
        Coverage::default(),
    );
    g.gsa_id = 0x2002;
    g.reqid = 2;
    a.add_gsa(now, g).unwrap();
    let inner = ipv4_udp(b"transit");
    // Receiver knows only the GEO and its policy demands only the GEO: delivered.
    let (_, mut b, _) = pair(Algorithm::AesGcm128, Coverage::default());
    assert_eq!(
        deliver(&mut b, now, &send(&mut a, now, &inner)).unwrap().2,
        inner
    );
    // Receiver's policy demands the GAO too, but it has no GSA for it: no_gsa.
    b.set_gsp(vec![secure(
        Direction::In,
        vec![t(GsoKind::Geo, 1), t(GsoKind::Gao, 2)],
    )])
    .unwrap();
    assert_eq!(
        deliver(&mut b, now, &send(&mut a, now, &inner)),
        Err(InVerdict::Drop(DropReason::NoGsa))
    );
}

#[test]
fn backends_interoperate_on_the_wire() {
    let now = Instant::now();
    let (mut a, mut b) = crate::fuzzing::pair(
        Algorithm::AesGcm256,
        Coverage::default(),
        Backend::Ring,
        Backend::RustCrypto,
        now,
    );
    let (mut c, _) = crate::fuzzing::pair(
        Algorithm::AesGcm256,
        Coverage::default(),
        Backend::RustCrypto,
        Backend::Ring,
        now,
    );
    let inner = ipv4_udp(&[1; 200]);
    let mut o1 = vec![0u8; 512];
    let mut o2 = vec![0u8; 512];
    let OutVerdict::Send { len } = a.outbound(now, 42, 0x0800, &inner, &mut o1) else {
        panic!()
    };
    let OutVerdict::Send { len: len2 } = c.outbound(now, 42, 0x0800, &inner, &mut o2) else {
        panic!()
    };
    assert_eq!(
        o1[..len],
        o2[..len2],
        "same key, SN and input: identical packets from both backends"
    );
    assert!(matches!(
        b.inbound(now, &mut o1[..len]),
        InVerdict::Deliver { .. }
    ));
}

/// Transit may insert options before a GAO (GAO-00 §7.1): Opt Len is not authenticated.
#[test]
fn transit_option_inserted_before_gao_still_verifies() {
    let (mut a, mut b, now) = pair(Algorithm::AesGmac128, Coverage::default());
    let inner = ipv4_udp(b"int");
    let pkt = send(&mut a, now, &inner);
    let mut t = pkt[..8].to_vec();
    t[0] += 1; // one more option word
    t.extend_from_slice(&[0x01, 0x03, 0x10, 0x00]); // class 0x0103 (INT), type 0x10, no data
    t.extend_from_slice(&pkt[8..]);
    assert_eq!(deliver(&mut b, now, &t).unwrap().2, inner);
}

#[test]
fn max_overhead_follows_policy_and_padding() {
    let (a, _, _) = pair(
        Algorithm::AesGcm128,
        Coverage {
            padding: Padding::Multiple(16),
            ..Default::default()
        },
    );
    assert_eq!(a.max_overhead(), 8 + 32 + 9 + 15);
    let (g, _, _) = pair(Algorithm::AesGmac128, Coverage::default());
    assert_eq!(g.max_overhead(), 8 + 32);
    assert_eq!(Dataplane::new(DataplaneConfig::default()).max_overhead(), 8);
}

// ----- full mesh: one template, a GSA per remote NVE -----

const P2: &str = "192.0.2.2";
const P3: &str = "192.0.2.3";

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

fn out_gsa(gsa_id: u32, peer: Option<IpAddr>) -> GsaConfig {
    GsaConfig {
        gsa_id,
        peer,
        ..gsa(Direction::Out, Algorithm::AesGcm128, Coverage::default())
    }
}

/// (GSA-ID, SN low) of the single GSO of a sealed packet.
fn gso_of(pkt: &[u8]) -> (u32, u32) {
    let word = |i: usize| u32::from_be_bytes(pkt[i..i + 4].try_into().unwrap());
    (word(16), word(12))
}

fn send_to(a: &mut Dataplane, now: Instant, peer: Option<IpAddr>, inner: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 2048];
    match a.outbound_to(now, peer, 42, 0x0800, inner, &mut out) {
        OutVerdict::Send { len } => out[..len].to_vec(),
        v => panic!("not sent to {peer:?}: {v:?}"),
    }
}

/// A receiver that knows inbound GSA `gsa_id` (same key as `out_gsa`).
fn receiver(now: Instant, gsa_id: u32) -> Dataplane {
    let mut b = Dataplane::new(DataplaneConfig::default());
    b.set_gsp(vec![secure(Direction::In, vec![t(GsoKind::Geo, 1)])])
        .unwrap();
    let mut c = gsa(Direction::In, Algorithm::AesGcm128, Coverage::default());
    c.gsa_id = gsa_id;
    b.add_gsa(now, c).unwrap();
    b
}

#[test]
fn each_peer_is_sealed_with_its_own_gsa() {
    let now = Instant::now();
    let mut a = Dataplane::new(DataplaneConfig::default());
    a.set_gsp(vec![secure(Direction::Out, vec![t(GsoKind::Geo, 1)])])
        .unwrap();
    a.add_gsa(now, out_gsa(0x2002, ip(P2))).unwrap();
    a.add_gsa(now, out_gsa(0x3003, ip(P3))).unwrap();
    let inner = ipv4_udp(b"mesh");
    // Install order does not matter: each packet takes its peer's GSA, with its own SNs.
    let p2 = send_to(&mut a, now, ip(P2), &inner);
    assert_eq!(gso_of(&p2), (0x2002, 1));
    assert_eq!(gso_of(&send_to(&mut a, now, ip(P3), &inner)), (0x3003, 1));
    assert_eq!(gso_of(&send_to(&mut a, now, ip(P2), &inner)), (0x2002, 2));
    // A dual-stack socket's IPv4-mapped view of P3 is P3.
    let mapped: IpAddr = "::ffff:192.0.2.3".parse().unwrap();
    assert_eq!(
        gso_of(&send_to(&mut a, now, Some(mapped), &inner)),
        (0x3003, 2)
    );
    // The right receiver opens it; the other NVE's GSA-ID is unknown there.
    assert_eq!(
        deliver(&mut receiver(now, 0x2002), now, &p2).unwrap().2,
        inner
    );
    assert_eq!(
        deliver(&mut receiver(now, 0x3003), now, &p2),
        Err(InVerdict::Drop(DropReason::NoGsa))
    );
    // A peer-less (hand-keyed) GSA serves peers without their own, never those with one.
    a.add_gsa(now, out_gsa(0x9009, None)).unwrap();
    assert_eq!(
        gso_of(&send_to(&mut a, now, ip("192.0.2.4"), &inner)),
        (0x9009, 1)
    );
    assert_eq!(gso_of(&send_to(&mut a, now, ip(P2), &inner)), (0x2002, 3));
    // Unknown peer (old callers): peer-less first.
    assert_eq!(gso_of(&send_to(&mut a, now, None, &inner)), (0x9009, 2));
    // Rekey towards P2: the newest of P2 takes over, P3 is untouched.
    a.add_gsa(now, out_gsa(0x2102, ip(P2))).unwrap();
    assert_eq!(gso_of(&send_to(&mut a, now, ip(P2), &inner)), (0x2102, 1));
    assert_eq!(gso_of(&send_to(&mut a, now, ip(P3), &inner)), (0x3003, 3));
    let counters = |id| {
        a.gsas()
            .iter()
            .find(|g| g.config().gsa_id == id)
            .map(|g| g.counters.packets)
    };
    assert_eq!(
        [0x2002, 0x2102, 0x3003, 0x9009].map(counters),
        [Some(3), Some(1), Some(3), Some(2)]
    );
    assert_eq!(a.stats().acquires, 0);
}

#[test]
fn acquire_and_release_per_peer() {
    let now = Instant::now();
    let mut a = Dataplane::new(DataplaneConfig::default());
    a.set_gsp(vec![secure(Direction::Out, vec![t(GsoKind::Geo, 1)])])
        .unwrap();
    // P2 has a GSA; P3 has none: only P3's packets wait, and the ACQUIRE names P3.
    a.add_gsa(now, out_gsa(0x2002, ip(P2))).unwrap();
    let mut out = vec![0u8; 512];
    let inner = ipv4_udp(b"to nve3");
    assert_eq!(
        a.outbound_to(now, ip(P3), 42, 0x0800, &inner, &mut out),
        OutVerdict::Queued
    );
    let acquire = |peer| Event::Acquire {
        policy_id: 10,
        reqid: 1,
        kind: GsoKind::Geo,
        vni: 42,
        protocol_type: 0x0800,
        src: ip("10.0.0.1"),
        dst: ip("10.0.0.2"),
        ip_proto: Some(17),
        src_port: Some(1234),
        dst_port: Some(53),
        peer,
    };
    assert_eq!(a.poll_event(), Some(acquire(ip(P3))));
    assert_eq!(gso_of(&send_to(&mut a, now, ip(P2), &inner)), (0x2002, 1));
    // A fourth NVE: its own ACQUIRE at once (rate limit per reqid and peer).
    assert_eq!(
        a.outbound_to(now, ip("192.0.2.4"), 42, 0x0800, &inner, &mut out),
        OutVerdict::Queued
    );
    assert_eq!(a.poll_event(), Some(acquire(ip("192.0.2.4"))));
    assert_eq!(
        a.outbound_to(now, ip(P3), 42, 0x0800, &inner, &mut out),
        OutVerdict::Queued
    );
    assert_eq!(a.poll_event(), None, "P3 rate-limited");
    // Each peer has its own share of the hold queue.
    for _ in 2..limits::HOLD_PER_REQID {
        a.outbound_to(now, ip(P3), 42, 0x0800, &inner, &mut out);
    }
    assert_eq!(
        a.outbound_to(now, ip(P3), 42, 0x0800, &inner, &mut out),
        OutVerdict::Drop(DropReason::QueueFull)
    );
    assert_eq!(a.held(), limits::HOLD_PER_REQID + 1);
    // P2's GSA releases nothing: the held packets are for P3 and the fourth NVE.
    assert!(a.poll_transmit(now, &mut out).is_none());
    // P3's GSA releases exactly P3's packets, sealed with it, addressed to P3.
    a.add_gsa(now, out_gsa(0x3003, ip(P3))).unwrap();
    let mut b = receiver(now, 0x3003);
    for sn in 1..=limits::HOLD_PER_REQID as u32 {
        let tx = a.poll_transmit(now, &mut out).unwrap();
        assert_eq!(
            (tx.peer, tx.vni, tx.inner_dst),
            (ip(P3), 42, ip("10.0.0.2"))
        );
        assert_eq!(gso_of(&out[..tx.len]), (0x3003, sn));
        assert_eq!(deliver(&mut b, now, &out[..tx.len]).unwrap().2, inner);
    }
    assert!(a.poll_transmit(now, &mut out).is_none());
    assert_eq!(a.held(), 1, "the fourth NVE's packet still waits");
    assert_eq!(a.stats().acquires, 2);
}

/// A TSO segment sealed from its headers and a slice of the super-packet
/// ([`Dataplane::outbound_to_parts`]) is byte for byte the packet sealed from the assembled
/// frame, whatever the split point, coverage and GSO kind, and opens to the same frame.
#[test]
fn sealing_from_parts_equals_sealing_the_assembled_frame() {
    let inner = ipv6_tcp(&(0..200u8).collect::<Vec<_>>());
    let coverages = [
        PayloadCoverage::All,
        PayloadCoverage::First(30),
        PayloadCoverage::First(90),
        PayloadCoverage::InnerHeaders,
        PayloadCoverage::AfterInnerHeaders,
    ];
    for alg in [
        Algorithm::AesGcm128,
        Algorithm::AesGmac128,
        Algorithm::HmacSha256_128,
    ] {
        for payload in coverages {
            if alg.kind() == GsoKind::Gao && payload == PayloadCoverage::AfterInnerHeaders {
                continue; // GEO only: a GAO encrypts nothing
            }
            let paddings: &[Padding] = match alg.kind() {
                GsoKind::Geo => &[Padding::None, Padding::Multiple(16)],
                GsoKind::Gao => &[Padding::None],
            };
            for &padding in paddings {
                let cov = Coverage {
                    payload,
                    padding,
                    ..Default::default()
                };
                let (mut whole, mut b, now) = pair(alg, cov.clone());
                let (mut parts, _, _) = pair(alg, cov);
                for split in [0, 1, 40, 59, 60, 61, 100, inner.len()] {
                    let (head, body) = inner.split_at(split);
                    let mut w = vec![0u8; 1024];
                    let mut p = vec![0u8; 1024];
                    let vw = whole.outbound(now, 42, 0x86dd, &inner, &mut w);
                    let vp = parts.outbound_to_parts(now, None, 42, 0x86dd, head, body, &mut p);
                    let OutVerdict::Send { len } = vw else {
                        panic!("{alg:?} {payload:?}: {vw:?}")
                    };
                    assert_eq!(vp, vw, "{alg:?} {payload:?} split {split}");
                    assert_eq!(p[..len], w[..len], "{alg:?} {payload:?} split {split}");
                    assert_eq!(deliver(&mut b, now, &p[..len]).unwrap().2, inner);
                }
            }
        }
    }
}

/// `authenticated` (the receiver may skip the inner checksums) only when a verified GSO covered
/// every byte of the inner frame.
#[test]
fn delivery_is_authenticated_only_when_every_byte_was_covered() {
    let inner = ipv6_tcp(&[9; 100]);
    let auth_of = |alg: Algorithm, payload: PayloadCoverage| {
        let cov = Coverage {
            payload,
            ..Default::default()
        };
        let (mut a, mut b, now) = pair(alg, cov);
        let mut out = vec![0u8; 1024];
        let OutVerdict::Send { len } = a.outbound(now, 42, 0x86dd, &inner, &mut out) else {
            panic!()
        };
        match b.inbound(now, &mut out[..len]) {
            InVerdict::Deliver { authenticated, .. } => authenticated,
            v => panic!("{v:?}"),
        }
    };
    assert!(auth_of(Algorithm::AesGcm128, PayloadCoverage::All));
    assert!(auth_of(Algorithm::AesGmac128, PayloadCoverage::All));
    assert!(auth_of(Algorithm::AesGcm128, PayloadCoverage::First(2000)));
    assert!(!auth_of(Algorithm::AesGcm128, PayloadCoverage::First(30)));
    assert!(!auth_of(
        Algorithm::AesGcm128,
        PayloadCoverage::InnerHeaders
    ));
    assert!(!auth_of(
        Algorithm::AesGcm128,
        PayloadCoverage::AfterInnerHeaders
    ));
    // BYPASS: nothing verified.
    let now = Instant::now();
    let bypass = |dir| Policy {
        id: 1,
        dir,
        selectors: Selectors::default(),
        action: Action::Bypass,
    };
    let mut a = Dataplane::new(DataplaneConfig::default());
    let mut b = Dataplane::new(DataplaneConfig::default());
    a.set_gsp(vec![bypass(Direction::Out)]).unwrap();
    b.set_gsp(vec![bypass(Direction::In)]).unwrap();
    let mut out = vec![0u8; 1024];
    let OutVerdict::Send { len } = a.outbound(now, 42, 0x86dd, &inner, &mut out) else {
        panic!()
    };
    assert!(matches!(
        b.inbound(now, &mut out[..len]),
        InVerdict::Deliver {
            authenticated: false,
            ..
        }
    ));
}
