//! Exact bytes for every payload, written by hand from the RFC layouts: build -> compare the
//! bytes, parse -> compare the fields.

use std::net::{Ipv4Addr, Ipv6Addr};

use nvesec_ikev2::wire::payload::PayloadIter;
use nvesec_ikev2::wire::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Encodes one payload as the last of a chain.
fn encode(p: &Payload) -> Vec<u8> {
    let mut out = Vec::new();
    p.emit(PayloadType::NONE, &mut out).unwrap();
    out
}

/// Parses a one-payload chain of type `ty`.
fn decode(ty: PayloadType, bytes: &[u8]) -> Result<Payload, Error> {
    let mut it = PayloadIter::new(ty, bytes);
    let p = Payload::from_raw(&it.next().unwrap()?)?;
    assert!(it.next().is_none());
    Ok(p)
}

fn round_trip(p: Payload, wire: &str) {
    let bytes = hex(wire);
    assert_eq!(encode(&p), bytes, "emit {p:?}");
    assert_eq!(decode(p.payload_type(), &bytes).unwrap(), p);
}

/// spec-facts §3.5: aes256gcm16-prfsha256-x25519, proposal 1, IKE, no SPI.
const IKE_PROPOSAL: &str = "00 00 00 24 01 01 00 03
    03 00 00 0C 01 00 00 14 80 0E 01 00
    03 00 00 08 02 00 00 05
    00 00 00 08 04 00 00 1F";

fn ike_proposal() -> Proposal {
    Proposal::new(
        1,
        ProtocolId::IKE,
        vec![],
        vec![
            Transform::encr(EncrId::ENCR_AES_GCM_16, Some(256)),
            Transform::prf(PrfId::PRF_HMAC_SHA2_256),
            Transform::dh(DhGroup::CURVE25519),
        ],
    )
}

#[test]
fn sa_ike_proposal() {
    let p = Payload::Sa(Sa::new(vec![ike_proposal()]));
    round_trip(p, &format!("00 00 00 28 {IKE_PROPOSAL}"));
    assert_eq!(ike_proposal().transforms[0].key_length(), Some(256));
}

#[test]
fn sa_gsa_proposals_geo_and_gao() {
    // Protocol 201 (GSA), SPI size 4 = GSA-ID 0x0000abcd; GEO: GCM16-128 + ESN; GAO: GMAC-256 + ESN.
    let geo = Proposal::new(
        1,
        ProtocolId::GSA,
        0xabcdu32.to_be_bytes().to_vec(),
        vec![
            Transform::encr(EncrId::ENCR_AES_GCM_16, Some(128)),
            Transform::esn(EsnId::ESN),
        ],
    );
    let gao = Proposal::new(
        2,
        ProtocolId::GSA,
        0xabcdu32.to_be_bytes().to_vec(),
        vec![
            Transform::encr(EncrId::ENCR_NULL_AUTH_AES_GMAC, Some(256)),
            Transform::esn(EsnId::ESN),
        ],
    );
    assert_eq!(geo.spi_u32(), Some(0xabcd));
    round_trip(
        Payload::Sa(Sa::new(vec![geo, gao])),
        "00 00 00 44
         02 00 00 20 01 C9 04 02 00 00 AB CD
            03 00 00 0C 01 00 00 14 80 0E 00 80
            00 00 00 08 05 00 00 01
         00 00 00 20 02 C9 04 02 00 00 AB CD
            03 00 00 0C 01 00 00 15 80 0E 01 00
            00 00 00 08 05 00 00 01",
    );
}

#[test]
fn sa_tlv_attribute_and_rejections() {
    let mut t = Transform::integ(IntegId::AUTH_HMAC_SHA2_256_128);
    t.attributes.push(Attribute::Tlv {
        ty: AttributeType(0x4001),
        value: vec![1, 2, 3],
    });
    let p = Proposal::new(1, ProtocolId::ESP, vec![0, 0, 0, 7], vec![t]);
    round_trip(
        Payload::Sa(Sa::new(vec![p])),
        "00 00 00 1F 00 00 00 1B 01 03 04 01 00 00 00 07
         00 00 00 0F 03 00 00 0C 40 01 00 03 01 02 03",
    );
    // Wrong Last Substruc (says "more" on the last proposal).
    let mut bad = hex(&format!("00 00 00 28 {IKE_PROPOSAL}"));
    bad[4] = 2;
    assert!(decode(PayloadType::SA, &bad).is_err());
    // Num Transforms says 4 but only 3 are there.
    let mut bad = hex(&format!("00 00 00 28 {IKE_PROPOSAL}"));
    bad[11] = 4;
    assert!(decode(PayloadType::SA, &bad).is_err());
    // An empty SA payload.
    assert!(decode(PayloadType::SA, &hex("00 00 00 04")).is_err());
}

const X25519_PUB: &str = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";

#[test]
fn ke_curve25519() {
    let ke = Ke::new(DhGroup::CURVE25519, hex(X25519_PUB));
    round_trip(
        Payload::Ke(ke),
        &format!("00 00 00 28 00 1F 00 00 {X25519_PUB}"),
    );
}

#[test]
fn nonce_bounds() {
    let n = vec![0x5a; 16];
    round_trip(
        Payload::Nonce(Nonce::new(n)),
        "00 00 00 14 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
    );
    let short = [&[0, 0, 0, 19][..], &[1; 15]].concat();
    assert!(matches!(
        decode(PayloadType::NONCE, &short),
        Err(Error::BadLength { len: 15, .. })
    ));
    let mut out = Vec::new();
    assert!(Payload::Nonce(Nonce::new(vec![0; 257]))
        .emit(PayloadType::NONE, &mut out)
        .is_err());
}

#[test]
fn id_payloads() {
    round_trip(
        Payload::IdI(Id::fqdn("nve1.example")),
        "00 00 00 14 02 00 00 00 6E 76 65 31 2E 65 78 61 6D 70 6C 65",
    );
    round_trip(
        Payload::IdR(Id::ipv4(Ipv4Addr::new(192, 0, 2, 1))),
        "00 00 00 0C 01 00 00 00 C0 00 02 01",
    );
    round_trip(
        Payload::IdI(Id::ipv6(Ipv6Addr::LOCALHOST)),
        "00 00 00 18 05 00 00 00 00000000000000000000000000000001",
    );
    // RESERVED octets are kept for the AUTH octets (IDx').
    let p = decode(PayloadType::IDI, &hex("00 00 00 09 0B 01 02 03 AA")).unwrap();
    let Payload::IdI(id) = p else { panic!() };
    assert_eq!(id.id_type, IdType::ID_KEY_ID);
    assert_eq!(id.body_bytes(), hex("0B 01 02 03 AA"));
}

#[test]
fn cert_certreq_auth() {
    round_trip(
        Payload::Cert(Cert::x509(hex("30 82 01 0A"))),
        "00 00 00 09 04 30 82 01 0A",
    );
    let ca = [0x11; 20];
    let req = CertReq::x509(&[ca]);
    assert_eq!(req.ca_hashes().collect::<Vec<_>>(), vec![&ca[..]]);
    round_trip(
        Payload::CertReq(req),
        "00 00 00 19 04 1111111111111111111111111111111111111111",
    );
    // Ed25519 under method 14: ASN.1 length 7, AlgorithmIdentifier, 64-byte signature.
    let mut data = hex("07 30 05 06 03 2B 65 70");
    data.extend_from_slice(&[0xEE; 64]);
    let wire = format!(
        "00 00 00 50 0E 00 00 00 07 30 05 06 03 2B 65 70 {}",
        "EE".repeat(64)
    );
    round_trip(
        Payload::Auth(Auth::new(AuthMethod::DIGITAL_SIGNATURE, data)),
        &wire,
    );
}

#[test]
fn notifies() {
    let n = Notify::invalid_ke_payload(DhGroup::CURVE25519);
    assert_eq!(n.accepted_group(), Some(DhGroup::CURVE25519));
    round_trip(Payload::Notify(n), "00 00 00 0A 00 00 00 11 00 1F");
    round_trip(
        Payload::Notify(Notify::rekey_sa(
            ProtocolId::GSA,
            vec![0xde, 0xad, 0xbe, 0xef],
        )),
        "00 00 00 0C C9 04 40 09 DE AD BE EF",
    );
    let algs = [
        HashAlgorithm::SHA2_256,
        HashAlgorithm::SHA2_384,
        HashAlgorithm::SHA2_512,
        HashAlgorithm::IDENTITY,
    ];
    let n = Notify::signature_hash_algorithms(&algs);
    assert_eq!(n.hash_algorithms().unwrap(), algs);
    round_trip(
        Payload::Notify(n),
        "00 00 00 10 00 00 40 2F 00 02 00 03 00 04 00 05",
    );
    round_trip(
        Payload::Notify(Notify::unsupported_critical_payload(PayloadType(200))),
        "00 00 00 09 00 00 00 01 C8",
    );
    // SPI Size past the end of the payload.
    assert!(decode(PayloadType::NOTIFY, &hex("00 00 00 09 03 08 40 09 01")).is_err());
}

#[test]
fn deletes() {
    round_trip(Payload::Delete(Delete::ike()), "00 00 00 08 01 00 00 00");
    let d = Delete::spis_u32(ProtocolId::GSA, &[1, 2]);
    assert_eq!(d.u32_spis(), Some(vec![1, 2]));
    round_trip(
        Payload::Delete(d),
        "00 00 00 10 C9 04 00 02 00 00 00 01 00 00 00 02",
    );
    // SPI size 0 with a count (IKE form lists no SPIs).
    assert!(decode(PayloadType::DELETE, &hex("00 00 00 08 01 00 FF FF")).is_err());
    // Num SPIs says 3 but there are 2; trailing bytes after the SPIs.
    assert!(decode(
        PayloadType::DELETE,
        &hex("00 00 00 10 C9 04 00 03 00000001 00000002")
    )
    .is_err());
    assert!(decode(
        PayloadType::DELETE,
        &hex("00 00 00 0D 03 04 00 01 00000001 FF")
    )
    .is_err());
}

#[test]
fn vendor_id() {
    let v = VendorId::nvesec_gsa();
    assert!(v.is_nvesec_gsa());
    round_trip(
        Payload::VendorId(v),
        "00 00 00 14 111a459a8e0aa77087f683ee98bac6bd",
    );
}

#[test]
fn traffic_selectors() {
    let v4 = TrafficSelector::Ipv4 {
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start: Ipv4Addr::new(10, 0, 0, 0),
        end: Ipv4Addr::new(10, 0, 0, 255),
    };
    round_trip(
        Payload::TsI(Ts::new(vec![v4])),
        "00 00 00 18 01 00 00 00 07 00 00 10 00 00 FF FF 0A 00 00 00 0A 00 00 FF",
    );
    let v6 = TrafficSelector::Ipv6 {
        ip_protocol: 17,
        start_port: 4789,
        end_port: 4789,
        start: Ipv6Addr::UNSPECIFIED,
        end: Ipv6Addr::LOCALHOST,
    };
    round_trip(
        Payload::TsR(Ts::new(vec![v6])),
        "00 00 00 30 01 00 00 00 08 11 00 28 12 B5 12 B5
         00000000000000000000000000000000 00000000000000000000000000000001",
    );
}

#[test]
fn ts_geneve() {
    // VNI 100..200, Protocol Type 0x6558 (Transparent Ethernet Bridging) only.
    let g = TrafficSelector::Geneve(GeneveSelector {
        vni_start: 100,
        vni_end: 200,
        protocol_start: 0x6558,
        protocol_end: 0x6558,
    });
    assert_eq!(g.ts_type(), TsType::TS_GENEVE);
    let unknown = TrafficSelector::Unknown {
        ts_type: TsType(250),
        second: 9,
        data: vec![1, 2],
    };
    round_trip(
        Payload::TsI(Ts::new(vec![g, unknown])),
        "00 00 00 1E 02 00 00 00
         F1 00 00 10 00 00 00 64 00 00 00 C8 65 58 65 58
         FA 09 00 06 01 02",
    );
    // VNI with a non-zero top octet; wrong selector length.
    let bad = hex("00 00 00 18 01 00 00 00 F1 00 00 10 01 00 00 64 00 00 00 C8 65 58 65 58");
    assert_eq!(
        decode(PayloadType::TSI, &bad),
        Err(Error::InvalidValue {
            what: "TS_GENEVE VNI above 24 bits"
        })
    );
    let bad = hex("00 00 00 10 01 00 00 00 F1 00 00 08 00 00 00 64");
    assert!(matches!(
        decode(PayloadType::TSI, &bad),
        Err(Error::BadLength { len: 8, .. })
    ));
    let mut out = Vec::new();
    let too_big = GeneveSelector {
        vni_end: 1 << 24,
        ..GeneveSelector::ANY
    };
    assert!(
        Payload::TsI(Ts::new(vec![TrafficSelector::Geneve(too_big)]))
            .emit(PayloadType::NONE, &mut out)
            .is_err()
    );
}

#[test]
fn sk_and_skf_envelopes() {
    round_trip(
        Payload::Sk(Sk::new(PayloadType::IDI, hex("0102030405060708 AA BB"))),
        "23 00 00 0E 0102030405060708 AA BB",
    );
    let f = Skf {
        fragment_number: 2,
        total_fragments: 3,
        next_payload: PayloadType::NONE,
        data: hex("CC DD"),
    };
    round_trip(Payload::Skf(f), "00 00 00 0A 00 02 00 03 CC DD");
    // Fragment number 0, and number above total.
    assert!(decode(PayloadType::SKF, &hex("00 00 00 08 00 00 00 03")).is_err());
    assert!(decode(PayloadType::SKF, &hex("00 00 00 08 00 04 00 03")).is_err());
}

#[test]
fn unknown_payloads_and_critical_bit() {
    // Unknown type 200, not critical: kept as Unknown for the engine to skip.
    let p = decode(PayloadType(200), &hex("00 00 00 06 AB CD")).unwrap();
    assert_eq!(
        p,
        Payload::Unknown {
            ty: PayloadType(200),
            body: vec![0xAB, 0xCD]
        }
    );
    assert_eq!(encode(&p), hex("00 00 00 06 AB CD"));
    // Same with the critical bit: error naming the type, mapped to the notify to send.
    let e = decode(PayloadType(200), &hex("00 80 00 06 AB CD")).unwrap_err();
    assert_eq!(e, Error::UnsupportedCriticalPayload(PayloadType(200)));
    assert_eq!(e.notify_type(), NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
    assert_eq!(e.notify_data(), vec![200]);
    // CP (47) is an RFC 7296 payload we do not implement: critical -> refused too.
    let e = decode(PayloadType::CP, &hex("00 80 00 04")).unwrap_err();
    assert_eq!(e, Error::UnsupportedCriticalPayload(PayloadType::CP));
    // A known payload with the critical bit is just parsed (the bit only matters if unknown).
    assert!(decode(PayloadType::DELETE, &hex("00 80 00 08 01 00 00 00")).is_ok());
}
