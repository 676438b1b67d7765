//! Property tests over the public API: seal/open round trips for random coverage configs and
//! backends, and "never panics" on arbitrary input for every parser.

use nvesec_gsa_dp::aead::Backend;
use nvesec_gsa_dp::fuzzing::{self, coverage_from, ALGS};
use nvesec_gsa_dp::wire::geneve::{PTYPE_ETHERNET, PTYPE_IPV4, PTYPE_IPV6};
use nvesec_gsa_dp::{InVerdict, OutVerdict};
use proptest::prelude::*;
use std::time::Instant;

fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
    let total = (28 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[
        0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x04, 0xd2, 0, 53,
    ]);
    p.extend_from_slice(&(payload.len() as u16 + 8).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

fn frame_strategy() -> impl Strategy<Value = (u16, Vec<u8>)> {
    let payload = proptest::collection::vec(any::<u8>(), 0..600);
    prop_oneof![
        payload.clone().prop_map(|p| (PTYPE_IPV4, ipv4_udp(&p))),
        payload.clone().prop_map(|p| (PTYPE_IPV6, p)),
        payload.prop_map(|p| (PTYPE_ETHERNET, p)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    /// Any algorithm, coverage, options and backend pairing: the receiver gets back exactly
    /// what was sent, and the VNI/Protocol Type even when hidden.
    #[test]
    fn seal_open_round_trip(
        alg in 0usize..ALGS.len(), a in any::<u8>(), b in any::<u8>(),
        tx_ring in any::<bool>(), rx_ring in any::<bool>(),
        with_opt in any::<bool>(), vni in 0u32..0x100_0000, (ptype, frame) in frame_strategy(),
    ) {
        let alg = ALGS[alg];
        let now = Instant::now();
        let be = |r| if r { Backend::Ring } else { Backend::RustCrypto };
        let (mut tx, mut rx) = fuzzing::pair(alg, coverage_from(alg, a, b), be(tx_ring), be(rx_ring), now);
        let opt: &[u8] = if with_opt { &[0x01, 0x02, 0x03, 0x01, 0xaa, 0xbb, 0xcc, 0xdd] } else { &[] };
        let mut out = vec![0u8; 4096];
        let OutVerdict::Send { len } = tx.outbound_with_options(now, vni, ptype, opt, &frame, &mut out) else {
            return Err(TestCaseError::fail("not sent"));
        };
        let mut pkt = out[..len].to_vec();
        match rx.inbound(now, &mut pkt) {
            InVerdict::Deliver { vni: v, protocol_type, inner, .. } => {
                prop_assert_eq!(v, vni);
                prop_assert_eq!(protocol_type, ptype);
                prop_assert_eq!(&pkt[inner], &frame[..]);
            }
            other => return Err(TestCaseError::fail(format!("{other:?} for {alg:?} {:?}", coverage_from(alg, a, b)))),
        }
        // The same packet again is a replay.
        let mut again = out[..len].to_vec();
        prop_assert_eq!(rx.inbound(now, &mut again), InVerdict::Drop(nvesec_gsa_dp::counters::DropReason::Replay));
    }

    #[test]
    fn inbound_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        fuzzing::inbound_any(&data);
    }

    #[test]
    fn geneve_parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        fuzzing::parse_geneve(&data);
    }

    #[test]
    fn keying_never_panics(s in ".{0,200}") {
        fuzzing::keying_any(s.as_bytes());
    }

    /// Structured-but-wrong keying lines never panic either.
    #[test]
    fn keying_fields_never_panic(op in "(ADD_GSA|DEL_GSA|SET_GSP|FLUSH|X)", v in 0u32..3, junk in "[a-z0-9\":,{}\\[\\]]{0,40}") {
        let line = format!(r#"{{"v":{v},"seq":1,"op":"{op}",{junk}}}"#);
        fuzzing::keying_any(line.as_bytes());
    }
}
