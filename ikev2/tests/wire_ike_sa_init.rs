//! A whole IKE_SA_INIT request laid out as strongSwan 5.9 sends it for
//! `proposals = aes256gcm16-prfsha256-x25519` (spec-facts §5 item 9:
//! `SA KE No N(NATD_S_IP) N(NATD_D_IP) N(FRAG_SUP) N(HASH_ALG) N(REDIR_SUP)`), written by hand
//! from RFC 7296 §3; it must parse to the expected fields and re-encode byte for byte.

use nvesec_ikev2::wire::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const X25519_PUB: &str = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
const NONCE: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const NATD_SRC: &str = "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4";
const NATD_DST: &str = "c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4";

fn request_bytes() -> Vec<u8> {
    hex(&format!(
        "5f3a1b2c3d4e5f60 0000000000000000 21 20 22 08 00000000 000000E8
         22 00 0028  00 00 0024 01 01 00 03
                       03 00 000C 01 00 0014 800E 0100
                       03 00 0008 02 00 0005
                       00 00 0008 04 00 001F
         28 00 0028  001F 0000 {X25519_PUB}
         29 00 0024  {NONCE}
         29 00 001C  00 00 4004 {NATD_SRC}
         29 00 001C  00 00 4005 {NATD_DST}
         29 00 0008  00 00 402E
         29 00 0010  00 00 402F 0002 0003 0004 0005
         00 00 0008  00 00 4016"
    ))
}

fn request_typed() -> Message {
    let header = IkeHeader {
        spi_i: 0x5f3a_1b2c_3d4e_5f60,
        spi_r: 0,
        exchange: ExchangeType::IKE_SA_INIT,
        flags: Flags::INITIATOR,
        message_id: 0,
    };
    let proposal = Proposal::new(
        1,
        ProtocolId::IKE,
        vec![],
        vec![
            Transform::encr(EncrId::ENCR_AES_GCM_16, Some(256)),
            Transform::prf(PrfId::PRF_HMAC_SHA2_256),
            Transform::dh(DhGroup::CURVE25519),
        ],
    );
    Message::new(
        header,
        vec![
            Payload::Sa(Sa::new(vec![proposal])),
            Payload::Ke(Ke::new(DhGroup::CURVE25519, hex(X25519_PUB))),
            Payload::Nonce(Nonce::new(hex(NONCE))),
            Payload::Notify(Notify::new(
                NotifyType::NAT_DETECTION_SOURCE_IP,
                hex(NATD_SRC),
            )),
            Payload::Notify(Notify::new(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                hex(NATD_DST),
            )),
            Payload::Notify(Notify::new(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                vec![],
            )),
            Payload::Notify(Notify::signature_hash_algorithms(&[
                HashAlgorithm::SHA2_256,
                HashAlgorithm::SHA2_384,
                HashAlgorithm::SHA2_512,
                HashAlgorithm::IDENTITY,
            ])),
            Payload::Notify(Notify::new(NotifyType::REDIRECT_SUPPORTED, vec![])),
        ],
    )
}

#[test]
fn parses_to_the_expected_fields() {
    let bytes = request_bytes();
    assert_eq!(bytes.len(), 232);
    let msg = Message::parse(&bytes).unwrap();
    assert_eq!(msg.header.exchange, ExchangeType::IKE_SA_INIT);
    assert!(msg.header.flags.is_initiator() && !msg.header.flags.is_response());
    assert_eq!(msg.payloads.len(), 8);
    let Payload::Sa(sa) = &msg.payloads[0] else {
        panic!("SA first")
    };
    let p = &sa.proposals[0];
    assert_eq!((p.number, p.protocol, p.spi.len()), (1, ProtocolId::IKE, 0));
    assert_eq!(p.transforms[0].key_length(), Some(256));
    let Payload::Ke(ke) = &msg.payloads[1] else {
        panic!("KE second")
    };
    assert_eq!((ke.group, ke.data.len()), (DhGroup::CURVE25519, 32));
    let types: Vec<_> = msg.notifies().map(|n| n.ty).collect();
    assert_eq!(
        types,
        [
            NotifyType::NAT_DETECTION_SOURCE_IP,
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            NotifyType::SIGNATURE_HASH_ALGORITHMS,
            NotifyType::REDIRECT_SUPPORTED,
        ]
    );
    assert_eq!(msg, request_typed());
    let natd = msg
        .notify(NotifyType::NAT_DETECTION_DESTINATION_IP)
        .unwrap();
    assert_eq!(natd.data, hex(NATD_DST));
    assert_eq!(rules::check_outer(&msg), Ok(()));
}

#[test]
fn builds_the_exact_bytes() {
    assert_eq!(request_typed().to_bytes().unwrap(), request_bytes());
    assert_eq!(
        Message::parse(&request_bytes())
            .unwrap()
            .to_bytes()
            .unwrap(),
        request_bytes()
    );
}

#[test]
fn header_length_must_match_the_datagram() {
    let mut bytes = request_bytes();
    bytes.push(0);
    assert_eq!(
        Message::parse(&bytes),
        Err(Error::LengthMismatch {
            header: 232,
            datagram: 233
        })
    );
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = request_bytes();
    for cut in 0..bytes.len() {
        let mut t = bytes[..cut].to_vec();
        assert!(Message::parse(&t).is_err(), "cut at {cut}");
        // Also with the header Length patched, so the payload walker sees the short chain.
        if cut >= HEADER_LEN {
            t[24..28].copy_from_slice(&(cut as u32).to_be_bytes());
            assert!(Message::parse(&t).is_err(), "patched cut at {cut}");
        }
    }
}

#[test]
fn unknown_critical_payload_in_a_request() {
    // Append a critical unknown payload (type 222) after REDIRECT_SUPPORTED.
    let mut bytes = request_bytes();
    let last_notify = bytes.len() - 8;
    bytes[last_notify] = 222;
    bytes.extend_from_slice(&[0, 0x80, 0, 4]);
    let len = bytes.len() as u32;
    bytes[24..28].copy_from_slice(&len.to_be_bytes());
    let e = Message::parse(&bytes).unwrap_err();
    assert_eq!(e, Error::UnsupportedCriticalPayload(PayloadType(222)));
    // Non-critical: skipped into Payload::Unknown, the rest intact.
    bytes[233] = 0;
    let msg = Message::parse(&bytes).unwrap();
    assert_eq!(msg.payloads.len(), 9);
    assert_eq!(
        msg.payloads[8],
        Payload::Unknown {
            ty: PayloadType(222),
            body: vec![]
        }
    );
}

#[test]
fn non_esp_marker_on_port_4500() {
    let framed = natt::add_non_esp_marker(&request_bytes());
    let natt::Port4500::Ike(inner) = natt::classify_4500(&framed) else {
        panic!()
    };
    assert_eq!(Message::parse(inner).unwrap(), request_typed());
}
