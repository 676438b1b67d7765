//! Property tests of the crypto module: round trips (SK seal/open, sign/verify, D-H, the
//! strongSwan log reader), tamper detection, prf+ == RFC 7296 loop, and "never panics" on
//! arbitrary input for every crypto-side parser (shared with the cargo-fuzz entry point).

use nvesec_ikev2::crypto::prf::prf_plus_reference;
use nvesec_ikev2::crypto::sk::{open_sk, seal_sk, sealed_len, ICV_LEN, IV_LEN};
use nvesec_ikev2::crypto::strongswan_log::{ike_key_sets, parse_key_dumps};
use nvesec_ikev2::crypto::{
    fuzz, CryptoError, DhGroup, DhPrivate, Prf, SignatureHash, Signer, SkKey, SkSuite,
};
use proptest::prelude::*;

fn suite() -> impl Strategy<Value = SkSuite> {
    prop_oneof![Just(SkSuite::AesGcm16_128), Just(SkSuite::AesGcm16_256)]
}

fn key_for(suite: SkSuite, seed: &[u8; 36]) -> SkKey {
    SkKey::new(suite, &seed[..suite.keymat_len()]).unwrap()
}

/// Which part of `aad || IV | ciphertext | ICV` a tamper test flips a bit in.
#[derive(Debug, Clone, Copy)]
enum Part {
    Aad,
    Iv,
    Ciphertext,
    Icv,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sk_seal_open_round_trip(
        suite in suite(),
        km in any::<[u8; 36]>(),
        iv in any::<u64>(),
        aad in proptest::collection::vec(any::<u8>(), 0..64),
        pt in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let key = key_for(suite, &km);
        let sealed = seal_sk(&key, iv, &aad, &pt).unwrap();
        prop_assert_eq!(sealed.len(), sealed_len(pt.len()));
        prop_assert_eq!(&sealed[..IV_LEN], &iv.to_be_bytes()[..]);
        prop_assert_eq!(open_sk(&key, &aad, &sealed).unwrap(), pt);
    }

    #[test]
    fn sk_any_bit_flip_is_detected(
        suite in suite(),
        km in any::<[u8; 36]>(),
        iv in any::<u64>(),
        aad in proptest::collection::vec(any::<u8>(), 1..64),
        pt in proptest::collection::vec(any::<u8>(), 1..300),
        part in prop_oneof![Just(Part::Aad), Just(Part::Iv), Just(Part::Ciphertext), Just(Part::Icv)],
        pos in any::<usize>(),
        bit in 0u8..8,
    ) {
        let key = key_for(suite, &km);
        let mut aad2 = aad.clone();
        let mut sealed = seal_sk(&key, iv, &aad, &pt).unwrap();
        let ct_len = sealed.len() - IV_LEN - ICV_LEN;
        let flip = 1u8 << bit;
        match part {
            Part::Aad => aad2[pos % aad.len()] ^= flip,
            Part::Iv => sealed[pos % IV_LEN] ^= flip,
            Part::Ciphertext => sealed[IV_LEN + pos % ct_len] ^= flip,
            Part::Icv => sealed[IV_LEN + ct_len + pos % ICV_LEN] ^= flip,
        }
        prop_assert_eq!(open_sk(&key, &aad2, &sealed), Err(CryptoError::Integrity));
    }

    #[test]
    fn sk_wrong_direction_key_fails(km in any::<[u8; 36]>(), other in any::<[u8; 36]>(), pt in proptest::collection::vec(any::<u8>(), 0..100)) {
        prop_assume!(km[..20] != other[..20]);
        let a = key_for(SkSuite::AesGcm16_128, &km);
        let b = key_for(SkSuite::AesGcm16_128, &other);
        let sealed = seal_sk(&a, 1, b"hdr", &pt).unwrap();
        prop_assert_eq!(open_sk(&b, b"hdr", &sealed), Err(CryptoError::Integrity));
    }

    #[test]
    fn crypto_parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = fuzz::parse_any(&data);
    }

    #[test]
    fn strongswan_log_reader_never_panics(text in "\\PC{0,300}") {
        let _ = parse_key_dumps(&text);
        let _ = ike_key_sets(&text);
    }

    #[test]
    fn prf_plus_equals_rfc7296_loop(
        sha384 in any::<bool>(),
        key in proptest::collection::vec(any::<u8>(), 1..150),
        seed in proptest::collection::vec(any::<u8>(), 0..100),
        len in 0usize..700,
    ) {
        let prf = if sha384 { Prf::HmacSha384 } else { Prf::HmacSha256 };
        let fast = prf.prf_plus(&key, &[&seed], len).unwrap();
        prop_assert_eq!(fast.expose(), &prf_plus_reference(prf, &key, &seed, len).unwrap()[..]);
    }

    #[test]
    fn x25519_agreement(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
        let pa = DhPrivate::from_bytes(DhGroup::Curve25519, &a).unwrap();
        let pb = DhPrivate::from_bytes(DhGroup::Curve25519, &b).unwrap();
        let ab = pa.shared_secret(&pb.public_value()).unwrap();
        let ba = pb.shared_secret(&pa.public_value()).unwrap();
        prop_assert_eq!(ab.expose(), ba.expose());
    }

    #[test]
    fn ed25519_auth_round_trip(seed in any::<[u8; 32]>(), msg in proptest::collection::vec(any::<u8>(), 0..400), flip in any::<usize>()) {
        let s = Signer::ed25519_from_seed(&seed);
        let auth = s.auth_data(&msg, &SignatureHash::SUPPORTED).unwrap();
        let v = s.verifier();
        prop_assert_eq!(v.verify_auth_data(&auth, &msg), Ok(()));
        let mut bad = auth.clone();
        let i = 8 + flip % 64; // inside the signature
        bad[i] ^= 1;
        prop_assert!(v.verify_auth_data(&bad, &msg).is_err());
    }
}

proptest! {
    // ECDSA signing is randomized and slower in debug builds: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn ecdsa_auth_round_trip(msg in proptest::collection::vec(any::<u8>(), 0..400), flip in any::<usize>()) {
        let doc = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &ring::rand::SystemRandom::new(),
        ).unwrap();
        let s = Signer::from_pkcs8_der(doc.as_ref()).unwrap();
        let auth = s.auth_data(&msg, &[SignatureHash::SHA2_256]).unwrap();
        let v = s.verifier();
        prop_assert_eq!(v.verify_auth_data(&auth, &msg), Ok(()));
        let mut other = msg.clone();
        if other.is_empty() { other.push(0) } else { let i = flip % other.len(); other[i] ^= 0x80 }
        prop_assert_eq!(v.verify_auth_data(&auth, &other), Err(CryptoError::BadSignature));
    }
}

/// Writes `bytes` the way strongSwan's `%B` printf hook does (utils/printf_hook), behind a
/// charon file-logger prefix.
fn charon_dump(label: &str, bytes: &[u8]) -> String {
    let mut s = format!(
        "Nov 23 10:00:00 08[IKE] {label} => {} bytes @ 0x55d0c8e4a1b0\n",
        bytes.len()
    );
    for (row, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02X}")).collect();
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if (32..127).contains(&b) {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        s += &format!(
            "Nov 23 10:00:00 08[IKE] {:4}: {:<47}  {ascii}\n",
            row * 16,
            hex.join(" ")
        );
    }
    s
}

proptest! {
    #[test]
    fn strongswan_dump_round_trip(
        d in proptest::collection::vec(any::<u8>(), 1..100),
        ei in proptest::collection::vec(any::<u8>(), 1..40),
    ) {
        let log = charon_dump("Sk_d secret", &d) + &charon_dump("Sk_ei secret", &ei);
        let sets = ike_key_sets(&log);
        prop_assert_eq!(sets.len(), 1);
        prop_assert_eq!(sets[0].sk_d.as_ref().unwrap().expose(), &d[..]);
        prop_assert_eq!(sets[0].sk_ei.as_ref().unwrap().expose(), &ei[..]);
    }
}
