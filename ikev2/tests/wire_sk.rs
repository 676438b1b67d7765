//! SK/SKF envelopes: AEAD byte ranges, inner chains, fragmenting and reassembly.

use nvesec_ikev2::wire::*;

fn header(exchange: ExchangeType, message_id: u32) -> IkeHeader {
    IkeHeader {
        spi_i: 0x1111_2222_3333_4444,
        spi_r: 0x5555_6666_7777_8888,
        exchange,
        flags: Flags::INITIATOR,
        message_id,
    }
}

fn inner_payloads() -> Vec<Payload> {
    vec![
        Payload::IdI(Id::fqdn("a")),
        Payload::Notify(Notify::new(NotifyType::INITIAL_CONTACT, vec![])),
    ]
}

#[test]
fn inner_chain_exact_bytes() {
    let (first, bytes) = encode_inner(&inner_payloads()).unwrap();
    assert_eq!(first, PayloadType::IDI);
    assert_eq!(
        bytes,
        [0x29, 0, 0, 9, 2, 0, 0, 0, b'a', 0, 0, 0, 8, 0, 0, 0x40, 0x00]
    );
    assert_eq!(parse_inner(first, &bytes).unwrap(), inner_payloads());
    assert_eq!(encode_inner(&[]).unwrap(), (PayloadType::NONE, vec![]));
    assert_eq!(parse_inner(PayloadType::NONE, &[]).unwrap(), vec![]);
}

#[test]
fn sk_inside_sk_is_refused() {
    let sk = Payload::Sk(Sk::new(PayloadType::NONE, vec![0; 25]));
    assert_eq!(encode_inner(&[sk]), Err(Error::NestedEncrypted));
    assert_eq!(
        parse_inner(PayloadType::SK, &[0, 0, 0, 4]),
        Err(Error::NestedEncrypted)
    );
    // SK not last in an outer chain.
    let msg = Message::new(
        header(ExchangeType::INFORMATIONAL, 2),
        vec![
            Payload::Sk(Sk::new(PayloadType::NONE, vec![0; 25])),
            Payload::VendorId(VendorId::new(vec![1])),
        ],
    );
    assert_eq!(msg.to_bytes(), Err(Error::EncryptedNotLast));
}

#[test]
fn sk_ranges_for_sending_and_receiving() {
    // AES-GCM-16: IV 8, ICV 16; plaintext = inner chain | Pad Length 0.
    let (first, inner) = encode_inner(&inner_payloads()).unwrap();
    let mut plaintext = inner.clone();
    plaintext.push(0);
    let sk = Sk::placeholder(first, 8 + plaintext.len() + 16);
    let msg = Message::new(header(ExchangeType::IKE_AUTH, 1), vec![Payload::Sk(sk)]);
    let (mut bytes, r) = msg.to_bytes_with_sk_ranges(8, 16).unwrap();
    assert_eq!(bytes, msg.to_bytes().unwrap());
    assert_eq!(sk_ranges(&bytes, 8, 16).unwrap(), r);
    assert_eq!(bytes.len(), 28 + 4 + 8 + 18 + 16);
    assert_eq!(&bytes[16..20], &[0x2e, 0x20, 0x23, 0x08]); // next SK, v2.0, IKE_AUTH, I
    assert_eq!(&bytes[28..32], &[0x23, 0, 0, 46]); // SK: next IDi, length 4+8+18+16

    assert_eq!(r.aad, 0..32);
    assert_eq!(r.iv, 32..40);
    assert_eq!(r.ciphertext, 40..58);
    assert_eq!(r.icv, 58..74);
    assert_eq!(r.first_inner, PayloadType::IDI);
    assert_eq!(r.fragment, None);

    // Stand-in for encryption (the crypto module's job): copy the plaintext in.
    bytes[r.ciphertext.clone()].copy_from_slice(&plaintext);
    let got = strip_padding(&bytes[r.ciphertext.clone()]).unwrap();
    assert_eq!(parse_inner(r.first_inner, got).unwrap(), inner_payloads());
}

#[test]
fn sk_ranges_errors() {
    let msg = Message::new(
        header(ExchangeType::IKE_SA_INIT, 0),
        vec![Payload::Nonce(Nonce::new(vec![7; 16]))],
    );
    let bytes = msg.to_bytes().unwrap();
    assert!(sk_ranges(&bytes, 8, 16).is_err());
    // Too short for IV + Pad Length + ICV.
    let msg = Message::new(
        header(ExchangeType::INFORMATIONAL, 3),
        vec![Payload::Sk(Sk::placeholder(PayloadType::NONE, 24))],
    );
    let bytes = msg.to_bytes().unwrap();
    assert_eq!(
        sk_ranges(&bytes, 8, 16),
        Err(Error::Truncated {
            what: "encrypted payload",
            need: 25,
            have: 24
        })
    );
}

#[test]
fn strip_padding_bounds() {
    assert_eq!(strip_padding(&[1, 2, 9, 9, 2]).unwrap(), &[1, 2]);
    assert!(strip_padding(&[]).is_err());
    assert!(strip_padding(&[9, 2]).is_err());
}

#[test]
fn skf_ranges_cover_the_fragment_header() {
    let f = Skf::placeholder(1, 2, PayloadType::IDI, 8 + 5 + 16);
    let msg = Message::new(header(ExchangeType::IKE_AUTH, 1), vec![Payload::Skf(f)]);
    let bytes = msg.to_bytes().unwrap();
    assert_eq!(&bytes[28..36], &[0x23, 0, 0, 37, 0, 1, 0, 2]);
    let r = sk_ranges(&bytes, 8, 16).unwrap();
    // RFC 7383 §2.5: Fragment Number and Total Fragments are authenticated.
    assert_eq!(r.aad, 0..36);
    assert_eq!(r.iv, 36..44);
    assert_eq!(r.ciphertext, 44..49);
    assert_eq!(r.fragment, Some((1, 2)));
    assert_eq!(
        Message::parse(&bytes)
            .unwrap()
            .skf()
            .unwrap()
            .total_fragments,
        2
    );
}

#[test]
fn fragment_size_for_strongswan_defaults() {
    // 1280 - IPv4 20 - UDP 8 - marker 4 - IKE 28 - SKF 8 - IV 8 - ICV 16 - Pad Length 1.
    assert_eq!(
        FragmentParams::aes_gcm_16(1280, false, true).max_chunk(),
        Some(1187)
    );
    assert_eq!(
        FragmentParams::aes_gcm_16(1280, true, false).max_chunk(),
        Some(1171)
    );
    let cbc = FragmentParams {
        iv_len: 16,
        icv_len: 16,
        block_len: 16,
        ..FragmentParams::aes_gcm_16(576, false, false)
    };
    // 576 - 20 - 8 - 28 - 8 - 16 - 16 = 480, multiple of 16, minus Pad Length.
    assert_eq!(cbc.max_chunk(), Some(479));
    // 92 bytes of overhead without data: nothing fits until 94 (1 data octet + Pad Length).
    assert_eq!(
        FragmentParams::aes_gcm_16(80, false, true).max_chunk(),
        None
    );
    assert_eq!(
        FragmentParams::aes_gcm_16(93, false, true).max_chunk(),
        None
    );
    assert_eq!(
        FragmentParams::aes_gcm_16(94, false, true).max_chunk(),
        Some(1)
    );
    assert!(split_inner(b"abc", &FragmentParams::aes_gcm_16(93, false, true)).is_err());
    assert_eq!(
        split_inner(b"abc", &FragmentParams::aes_gcm_16(94, false, true))
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn split_and_reassemble_a_certificate_chain() {
    let certs: Vec<Payload> = (0..3u8)
        .map(|i| Payload::Cert(Cert::x509(vec![i; 900])))
        .collect();
    let (first, inner) = encode_inner(&certs).unwrap();
    let params = FragmentParams::aes_gcm_16(1280, false, true);
    let chunks = split_inner(&inner, &params).unwrap();
    assert_eq!(chunks.len(), inner.len().div_ceil(1187));
    assert_eq!(chunks.len(), 3);
    assert!(chunks.iter().all(|c| c.len() <= 1187));

    let total = chunks.len() as u16;
    let mut re = Reassembler::new(64 * 1024);
    // Deliver out of order, with a replay of fragment 3.
    let order = [3usize, 3, 1, 2];
    let mut done = None;
    for (step, &n) in order.iter().enumerate() {
        let next = if n == 1 { first } else { PayloadType::NONE };
        let out = re.insert(9, n as u16, total, next, chunks[n - 1]).unwrap();
        match step {
            1 => assert_eq!(out, Reassembly::Duplicate),
            3 => done = Some(out),
            _ => assert_eq!(out, Reassembly::Incomplete),
        }
    }
    let Some(Reassembly::Complete {
        first_payload,
        inner: got,
    }) = done
    else {
        panic!()
    };
    assert_eq!(first_payload, PayloadType::CERT);
    assert_eq!(got, inner);
    assert_eq!(parse_inner(first_payload, &got).unwrap(), certs);
    assert_eq!(re.buffered(), 0);
}

#[test]
fn reassembly_rules() {
    let mut re = Reassembler::new(1000);
    assert_eq!(
        re.insert(1, 0, 2, PayloadType::NONE, b"x"),
        Err(ReassemblyError::InvalidNumber {
            number: 0,
            total: 2
        })
    );
    assert_eq!(
        re.insert(1, 3, 2, PayloadType::NONE, b"x"),
        Err(ReassemblyError::InvalidNumber {
            number: 3,
            total: 2
        })
    );
    assert_eq!(
        re.insert(1, 2, 3, PayloadType::NONE, b"b"),
        Ok(Reassembly::Incomplete)
    );
    // Smaller total for the same message: stale, dropped.
    assert_eq!(
        re.insert(1, 1, 2, PayloadType::SA, b"a"),
        Err(ReassemblyError::StaleTotal)
    );
    // Larger total restarts (PMTU probing, RFC 7383 §2.6).
    assert_eq!(
        re.insert(1, 1, 4, PayloadType::SA, b"a"),
        Ok(Reassembly::Incomplete)
    );
    assert_eq!(re.buffered(), 1 + 64);
    // Past the memory cap: everything dropped.
    assert_eq!(
        re.insert(1, 2, 4, PayloadType::NONE, &[0; 900]),
        Err(ReassemblyError::TooLarge { max: 1000 })
    );
    assert_eq!(re.buffered(), 0);
    // A new message ID starts over.
    assert_eq!(
        re.insert(1, 1, 2, PayloadType::SA, b"a"),
        Ok(Reassembly::Incomplete)
    );
    assert_eq!(
        re.insert(2, 2, 2, PayloadType::NONE, b"z"),
        Ok(Reassembly::Incomplete)
    );
    assert_eq!(
        re.insert(2, 1, 2, PayloadType::KE, b"y"),
        Ok(Reassembly::Complete {
            first_payload: PayloadType::KE,
            inner: b"yz".to_vec()
        })
    );
}
