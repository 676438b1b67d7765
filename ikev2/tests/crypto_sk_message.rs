//! SK protection of whole IKE messages: the codec (`wire`) draws the byte ranges, the crypto
//! module seals and opens them. Checks the AAD really covers the IKE header and SK header.

use nvesec_ikev2::crypto::sk::{open_sk, seal_sk, sealed_len, ICV_LEN, IV_LEN};
use nvesec_ikev2::crypto::{CryptoError, IkeSaKeys, Prf, Secret, SkSuite};
use nvesec_ikev2::wire::*;

fn keys() -> IkeSaKeys {
    IkeSaKeys::derive(
        Prf::HmacSha256,
        SkSuite::AesGcm16_256,
        &Secret::from_slice(&[0x42; 32]),
        &[1; 32],
        &[2; 32],
        0x1111,
        0x2222,
    )
    .unwrap()
}

/// Builds and seals an INFORMATIONAL request carrying Delete(IKE), as the original initiator.
fn sealed_message(k: &IkeSaKeys, iv: u64) -> Vec<u8> {
    let header = IkeHeader {
        spi_i: 0x1111,
        spi_r: 0x2222,
        exchange: ExchangeType::INFORMATIONAL,
        flags: Flags::INITIATOR,
        message_id: 7,
    };
    let (first, inner) = encode_inner(&[Payload::Delete(Delete::ike())]).unwrap();
    let sk = Sk::placeholder(first, sealed_len(inner.len()));
    let msg = Message::new(header, vec![Payload::Sk(sk)]);
    let (mut bytes, r) = msg.to_bytes_with_sk_ranges(IV_LEN, ICV_LEN).unwrap();
    let body = seal_sk(k.outbound(true), iv, &bytes[r.aad.clone()], &inner).unwrap();
    bytes[r.iv.start..r.icv.end].copy_from_slice(&body);
    bytes
}

fn open(k: &IkeSaKeys, bytes: &[u8]) -> Result<Vec<Payload>, CryptoError> {
    let r = sk_ranges(bytes, IV_LEN, ICV_LEN).unwrap();
    let inner = open_sk(
        k.inbound(false),
        &bytes[r.aad.clone()],
        &bytes[r.iv.start..r.icv.end],
    )?;
    Ok(parse_inner(r.first_inner, &inner).unwrap())
}

#[test]
fn message_round_trip_through_codec_ranges() {
    let k = keys();
    let bytes = sealed_message(&k, 3);
    // 28 header + 4 SK header + 8 IV + 8 Delete(IKE) + 1 Pad Length + 16 ICV.
    assert_eq!(bytes.len(), 28 + 4 + 8 + 8 + 1 + 16);
    assert_eq!(&bytes[32..40], &3u64.to_be_bytes());
    assert_eq!(
        open(&k, &bytes).unwrap(),
        vec![Payload::Delete(Delete::ike())]
    );
    // Parsing the whole message sees one SK payload whose body is what we sealed.
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.sk().unwrap().data, bytes[32..].to_vec());
}

#[test]
fn header_and_sk_header_are_authenticated() {
    let k = keys();
    let good = sealed_message(&k, 0);
    // Message ID (offset 20..24), the SK generic header's Next Payload (28), every
    // ciphertext and ICV byte: each change is caught.
    for pos in [20usize, 23, 28, 41, good.len() - 1] {
        let mut bad = good.clone();
        bad[pos] ^= 0x01;
        let r = sk_ranges(&bad, IV_LEN, ICV_LEN).unwrap();
        let res = open_sk(
            k.inbound(false),
            &bad[r.aad.clone()],
            &bad[r.iv.start..r.icv.end],
        );
        assert_eq!(res, Err(CryptoError::Integrity), "byte {pos}");
    }
    // The responder's key cannot open the initiator's message.
    let r = sk_ranges(&good, IV_LEN, ICV_LEN).unwrap();
    assert_eq!(
        open_sk(
            k.inbound(true),
            &good[r.aad.clone()],
            &good[r.iv.start..r.icv.end]
        ),
        Err(CryptoError::Integrity)
    );
}
