//! Small entry points shared by the cargo-fuzz targets (`gsa-dp/fuzz/`) and the proptests, so
//! both exercise the same code. Each must never panic on any input, except where it asserts a
//! round-trip invariant (a panic there is a bug found).

use crate::aead::Backend;
use crate::engine::{Dataplane, DataplaneConfig, InVerdict, OutVerdict};
use crate::gsa::{
    Algorithm, Coverage, GsaConfig, OptionCoverage, Padding, PayloadCoverage, SecretKey,
};
use crate::gsp::{Action, Direction, Policy, Selectors, Template};
use crate::keying;
use crate::lifetime::LifetimeConfig;
use crate::wire::{geneve, gso, inner};
use std::time::Instant;

/// Parse anything as a Geneve packet: header, options, GSO fields, inner headers.
pub fn parse_geneve(data: &[u8]) {
    let Ok(p) = geneve::Packet::new_checked(data) else {
        return;
    };
    let Ok(r) = geneve::Repr::parse(&p) else {
        return;
    };
    for o in p.option_iter().flatten() {
        if let Ok(g) = gso::Packet::new_checked(o.data) {
            let _ = gso::Repr::parse(&g);
        }
    }
    let _ = inner::parse(r.protocol_type, p.payload());
}

/// Algorithms in fuzz/proptest order.
pub const ALGS: [Algorithm; 5] = [
    Algorithm::AesGcm128,
    Algorithm::AesGcm256,
    Algorithm::AesGmac128,
    Algorithm::AesGmac256,
    Algorithm::HmacSha256_128,
];

/// A GSA config with a fixed test key (never use outside tests and fuzzing).
pub fn test_gsa(
    dir: Direction,
    gsa_id: u32,
    reqid: u32,
    alg: Algorithm,
    coverage: Coverage,
) -> GsaConfig {
    GsaConfig {
        dir,
        gsa_id,
        reqid,
        alg,
        key: SecretKey::new(
            (0..alg.key_material_len() as u8)
                .map(|b| b.wrapping_mul(7))
                .collect(),
        ),
        coverage,
        selectors: Selectors::default(),
        lifetime: LifetimeConfig::default(),
        replay_window: 1024,
        peer: None,
    }
}

/// Derive a coverage config for `alg` from one seed byte pair.
pub fn coverage_from(alg: Algorithm, a: u8, b: u8) -> Coverage {
    let geo = alg.kind() == gso::GsoKind::Geo;
    let payload = match a % 4 {
        0 => PayloadCoverage::All,
        1 => PayloadCoverage::First(u16::from(b)),
        2 => PayloadCoverage::InnerHeaders,
        _ if geo => PayloadCoverage::AfterInnerHeaders,
        _ => PayloadCoverage::All,
    };
    let options = match (a >> 2) % 3 {
        0 => OptionCoverage::All,
        1 => OptionCoverage::None,
        _ => OptionCoverage::List(vec![(0x0102, 0x03)]),
    };
    let padding = match ((a >> 4) % 3, geo) {
        (1, true) => Padding::Multiple(u16::from(b % 64) + 1),
        (2, true) => Padding::Fixed(u16::from(b) * 2),
        _ => Padding::None,
    };
    Coverage {
        options,
        payload,
        padding,
        hidden_header: geo && a & 0x80 != 0,
        dummy_interval_ms: None,
    }
}

/// A sender/receiver pair for one algorithm and coverage; backends may differ (interop).
pub fn pair(
    alg: Algorithm,
    cov: Coverage,
    tx: Backend,
    rx: Backend,
    now: Instant,
) -> (Dataplane, Dataplane) {
    let mk = |backend| {
        Dataplane::new(DataplaneConfig {
            backend,
            ..DataplaneConfig::default()
        })
    };
    let (mut a, mut b) = (mk(tx), mk(rx));
    let tm = vec![Template {
        reqid: 1,
        kind: alg.kind(),
    }];
    let pol = |dir| Policy {
        id: 1,
        dir,
        selectors: Selectors::default(),
        action: Action::Secure { gsos: tm.clone() },
    };
    // set_gsp and add_gsa only fail on invalid input; these inputs are valid by construction.
    let _ = a.set_gsp(vec![pol(Direction::Out)]);
    let _ = b.set_gsp(vec![pol(Direction::In)]);
    let _ = a.add_gsa(now, test_gsa(Direction::Out, 0x77, 1, alg, cov.clone()));
    let _ = b.add_gsa(now, test_gsa(Direction::In, 0x77, 1, alg, cov));
    (a, b)
}

/// Inbound processing on arbitrary bytes. Byte 0 selects: raw input against a receiver with
/// GSAs installed, or seal-then-mutate (reaches decryption and option restoration).
pub fn inbound_any(data: &[u8]) {
    let now = Instant::now();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let alg = ALGS[usize::from(mode >> 1) % ALGS.len()];
    let (a0, b0) = (
        rest.first().copied().unwrap_or(0),
        rest.get(1).copied().unwrap_or(0),
    );
    let (mut tx, mut rx) = pair(
        alg,
        coverage_from(alg, a0, b0),
        Backend::Ring,
        Backend::Ring,
        now,
    );
    if mode & 1 == 0 {
        let mut pkt = rest.to_vec();
        let _ = rx.inbound(now, &mut pkt);
        return;
    }
    let body = rest.get(2..).unwrap_or(&[]);
    let (mutation, frame) = body.split_at(body.len().min(2));
    let ptype = [
        geneve::PTYPE_IPV4,
        geneve::PTYPE_IPV6,
        geneve::PTYPE_ETHERNET,
    ][usize::from(a0) % 3];
    let mut out = vec![0u8; 4096];
    let opt = [0x01, 0x02, 0x03, 0x01, 0xaa, 0xbb, 0xcc, 0xdd];
    let OutVerdict::Send { len } = tx.outbound_with_options(now, 42, ptype, &opt, frame, &mut out)
    else {
        return;
    };
    let mut pkt = out[..len].to_vec();
    if let [pos, x] = mutation {
        let i = usize::from(*pos) % pkt.len();
        pkt[i] ^= x;
        if let InVerdict::Deliver { .. } = rx.inbound(now, &mut pkt) {
            // Only unauthenticated fields may change without a drop.
        }
    } else if let InVerdict::Deliver { inner, .. } = rx.inbound(now, &mut pkt) {
        assert_eq!(&pkt[inner], frame, "round trip changed the inner frame");
    }
}

/// Keying codec on arbitrary bytes; decoded requests must survive an encode/decode round trip.
pub fn keying_any(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = keying::decode_request(s) {
        let again = keying::decode_request(&keying::encode_request(&m));
        assert_eq!(again.as_ref(), Ok(&m), "request round trip");
    }
    if let Ok(r) = keying::decode_reply(s) {
        assert_eq!(
            keying::decode_reply(&keying::encode_reply(&r)).as_ref(),
            Ok(&r),
            "reply round trip"
        );
    }
    if let Ok(e) = keying::decode_event(s) {
        assert_eq!(
            keying::decode_event(&keying::encode_event(&e)).as_ref(),
            Ok(&e),
            "event round trip"
        );
    }
}
