//! Property tests of the codec: typed -> bytes -> typed is the identity; arbitrary, mutated and
//! truncated bytes give errors, never panics (through the same `fuzz_*` entry points as the
//! cargo-fuzz targets in ikev2/fuzz/).

use std::net::{Ipv4Addr, Ipv6Addr};

use nvesec_ikev2::wire::ts::MAX_VNI;
use nvesec_ikev2::wire::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        (0u16..0x8000, any::<u16>()).prop_map(|(t, value)| Attribute::Tv {
            ty: AttributeType(t),
            value
        }),
        (0u16..0x8000, bytes(8)).prop_map(|(t, value)| Attribute::Tlv {
            ty: AttributeType(t),
            value
        }),
    ]
}

fn transform() -> impl Strategy<Value = Transform> {
    (any::<u8>(), any::<u16>(), vec(attribute(), 0..3)).prop_map(|(ty, id, attributes)| Transform {
        ty: TransformType(ty),
        id,
        attributes,
    })
}

fn proposal() -> impl Strategy<Value = Proposal> {
    (any::<u8>(), any::<u8>(), bytes(8), vec(transform(), 0..5))
        .prop_map(|(n, p, spi, t)| Proposal::new(n, ProtocolId(p), spi, t))
}

fn selector() -> impl Strategy<Value = TrafficSelector> {
    prop_oneof![
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<[u8; 4]>(),
            any::<[u8; 4]>()
        )
            .prop_map(
                |(ip_protocol, start_port, end_port, s, e)| TrafficSelector::Ipv4 {
                    ip_protocol,
                    start_port,
                    end_port,
                    start: Ipv4Addr::from(s),
                    end: Ipv4Addr::from(e),
                }
            ),
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<[u8; 16]>(),
            any::<[u8; 16]>()
        )
            .prop_map(
                |(ip_protocol, start_port, end_port, s, e)| TrafficSelector::Ipv6 {
                    ip_protocol,
                    start_port,
                    end_port,
                    start: Ipv6Addr::from(s),
                    end: Ipv6Addr::from(e),
                }
            ),
        (0..=MAX_VNI, 0..=MAX_VNI, any::<u16>(), any::<u16>()).prop_map(|(a, b, c, d)| {
            TrafficSelector::Geneve(GeneveSelector {
                vni_start: a,
                vni_end: b,
                protocol_start: c,
                protocol_end: d,
            })
        }),
        (any::<u8>(), any::<u8>(), bytes(12))
            .prop_filter("known TS type", |(t, _, _)| ![7, 8, 241].contains(t))
            .prop_map(|(t, second, data)| TrafficSelector::Unknown {
                ts_type: TsType(t),
                second,
                data
            }),
    ]
}

fn delete() -> impl Strategy<Value = Delete> {
    (any::<u8>(), 0u8..9, 0usize..4).prop_flat_map(|(p, size, n)| {
        let n = if size == 0 { 0 } else { n };
        vec(vec(any::<u8>(), usize::from(size)), n).prop_map(move |spis| Delete {
            protocol: ProtocolId(p),
            spi_size: size,
            spis,
        })
    })
}

fn id() -> impl Strategy<Value = Id> {
    (any::<u8>(), any::<[u8; 3]>(), bytes(24)).prop_map(|(t, reserved, data)| Id {
        id_type: IdType(t),
        reserved,
        data,
    })
}

/// Any payload that may appear inside an SK.
fn plain_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        vec(proposal(), 1..4).prop_map(|p| Payload::Sa(Sa::new(p))),
        (any::<u16>(), bytes(64)).prop_map(|(g, d)| Payload::Ke(Ke::new(DhGroup(g), d))),
        id().prop_map(Payload::IdI),
        id().prop_map(Payload::IdR),
        (any::<u8>(), bytes(40)).prop_map(|(e, data)| Payload::Cert(Cert {
            encoding: CertEncoding(e),
            data
        })),
        (any::<u8>(), bytes(40)).prop_map(|(e, authorities)| Payload::CertReq(CertReq {
            encoding: CertEncoding(e),
            authorities
        })),
        (any::<u8>(), bytes(80)).prop_map(|(m, d)| Payload::Auth(Auth::new(AuthMethod(m), d))),
        vec(any::<u8>(), 16..=256).prop_map(|d| Payload::Nonce(Nonce::new(d))),
        (any::<u8>(), bytes(8), any::<u16>(), bytes(40)).prop_map(|(p, spi, t, data)| {
            Payload::Notify(Notify::with_spi(ProtocolId(p), spi, NotifyType(t), data))
        }),
        delete().prop_map(Payload::Delete),
        bytes(32).prop_map(|d| Payload::VendorId(VendorId::new(d))),
        vec(selector(), 0..4).prop_map(|s| Payload::TsI(Ts::new(s))),
        vec(selector(), 0..4).prop_map(|s| Payload::TsR(Ts::new(s))),
        (any::<u8>(), bytes(16))
            .prop_filter("interpreted type", |(t, _)| {
                *t != 0 && !Payload::is_supported_type(PayloadType(*t))
            })
            .prop_map(|(t, body)| Payload::Unknown {
                ty: PayloadType(t),
                body
            }),
    ]
}

fn encrypted_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (any::<u8>(), bytes(64)).prop_map(|(n, d)| Payload::Sk(Sk::new(PayloadType(n), d))),
        (1u16.., any::<u16>(), any::<u8>(), bytes(64)).prop_map(|(total, k, n, data)| {
            Payload::Skf(Skf {
                fragment_number: k % total + 1,
                total_fragments: total,
                next_payload: PayloadType(n),
                data,
            })
        }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let header = (
        any::<u64>(),
        any::<u64>(),
        any::<u8>(),
        0u8..8,
        any::<u32>(),
    )
        .prop_map(|(spi_i, spi_r, x, f, message_id)| IkeHeader {
            spi_i,
            spi_r,
            exchange: ExchangeType(x),
            flags: Flags(f << 3),
            message_id,
        });
    (
        header,
        vec(plain_payload(), 0..7),
        proptest::option::of(encrypted_payload()),
    )
        .prop_map(|(h, mut payloads, sk)| {
            payloads.extend(sk);
            Message::new(h, payloads)
        })
}

proptest! {
    #[test]
    fn message_round_trip(m in message()) {
        let bytes = m.to_bytes().unwrap();
        prop_assert_eq!(Message::parse(&bytes).unwrap(), m);
        nvesec_ikev2::wire::fuzz_parse(&bytes);
    }

    #[test]
    fn inner_chain_round_trip(p in vec(plain_payload(), 0..8)) {
        let (first, bytes) = encode_inner(&p).unwrap();
        prop_assert_eq!(parse_inner(first, &bytes).unwrap(), p);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in bytes(600)) {
        fuzz_parse(&data);
        fuzz_reassemble(&data);
    }

    #[test]
    fn arbitrary_chain_behind_a_valid_header(first in any::<u8>(), chain in bytes(300)) {
        // A correct header with Length patched, so the walker and payload parsers see the bytes.
        let h = IkeHeader { spi_i: 1, spi_r: 2, exchange: ExchangeType::IKE_AUTH,
                            flags: Flags::RESPONSE, message_id: 1 };
        let mut d = Vec::new();
        h.emit(PayloadType(first), (28 + chain.len()) as u32, &mut d);
        d.extend_from_slice(&chain);
        fuzz_parse(&d);
    }

    #[test]
    fn mutated_messages_never_panic(m in message(), at in any::<usize>(), bit in 0u8..8) {
        let mut bytes = m.to_bytes().unwrap();
        let i = at % bytes.len();
        bytes[i] ^= 1 << bit;
        fuzz_parse(&bytes);
    }

    #[test]
    fn truncations_are_errors(m in message(), cut in any::<usize>()) {
        let bytes = m.to_bytes().unwrap();
        let cut = cut % bytes.len();
        let mut t = bytes[..cut].to_vec();
        prop_assert!(Message::parse(&t).is_err());
        if cut >= HEADER_LEN {
            let len = cut as u32;
            t[24..28].copy_from_slice(&len.to_be_bytes());
            // The cut chain still announces a next payload (or a longer one): refused.
            prop_assert!(Message::parse(&t).is_err());
        }
    }
}
