//! Per-operation cost of the IKE crypto: X25519, Ed25519 and ECDSA P-256 (ring) sign/verify,
//! IKE SA key derivation, child KEYMAT and SK seal/open.
//!
//! `cargo bench -p nvesec-ikev2 --bench crypto -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use nvesec_ikev2::crypto::sk::{open_sk, seal_sk};
use nvesec_ikev2::crypto::{
    DhGroup, DhPrivate, GsaSuite, IkeSaKeys, Prf, Secret, SignatureHash, Signer, SkSuite,
};
use rand_chacha::rand_core::SeedableRng;

fn dh(c: &mut Criterion) {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let a = DhPrivate::generate(DhGroup::Curve25519, &mut rng);
    let b = DhPrivate::generate(DhGroup::Curve25519, &mut rng).public_value();
    c.bench_function("x25519_keygen_public", |bn| {
        bn.iter(|| DhPrivate::generate(DhGroup::Curve25519, &mut rng).public_value())
    });
    c.bench_function("x25519_shared_secret", |bn| {
        bn.iter(|| a.shared_secret(black_box(&b)).unwrap())
    });
}

fn signatures(c: &mut Criterion) {
    let octets = vec![0x5a; 600]; // about an IKE_SA_INIT + nonce + prf output
    let ed = Signer::ed25519_from_seed(&[7; 32]);
    let ed_v = ed.verifier();
    let ed_sig = ed.sign(&octets).unwrap();
    c.bench_function("ed25519_sign", |bn| {
        bn.iter(|| ed.sign(black_box(&octets)).unwrap())
    });
    c.bench_function("ed25519_verify", |bn| {
        bn.iter(|| ed_v.verify(black_box(&octets), &ed_sig).unwrap())
    });

    let rng = ring::rand::SystemRandom::new();
    let doc = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &rng,
    )
    .unwrap();
    let ec = Signer::from_pkcs8_der(doc.as_ref()).unwrap();
    let ec_v = ec.verifier();
    let ec_sig = ec.sign(&octets).unwrap();
    c.bench_function("ecdsa_p256_sign_ring", |bn| {
        bn.iter(|| ec.sign(black_box(&octets)).unwrap())
    });
    c.bench_function("ecdsa_p256_verify_ring", |bn| {
        bn.iter(|| ec_v.verify(black_box(&octets), &ec_sig).unwrap())
    });
    let auth = ec.auth_data(&octets, &SignatureHash::SUPPORTED).unwrap();
    c.bench_function("ecdsa_p256_verify_auth_data", |bn| {
        bn.iter(|| ec_v.verify_auth_data(black_box(&auth), &octets).unwrap())
    });
}

fn derivation(c: &mut Criterion) {
    let g = Secret::from_slice(&[3; 32]);
    let (ni, nr) = ([1u8; 32], [2u8; 32]);
    c.bench_function("ike_sa_keys_sha256_aes256gcm", |bn| {
        bn.iter(|| {
            IkeSaKeys::derive(Prf::HmacSha256, SkSuite::AesGcm16_256, &g, &ni, &nr, 1, 2).unwrap()
        })
    });
    let ike =
        IkeSaKeys::derive(Prf::HmacSha256, SkSuite::AesGcm16_256, &g, &ni, &nr, 1, 2).unwrap();
    c.bench_function("gsa_keymat_geo256", |bn| {
        bn.iter(|| {
            ike.child_keys(None, &ni, &nr, GsaSuite::GeoAesGcm256.key_spec())
                .unwrap()
        })
    });
    let aad = [0u8; 32];
    let pt = vec![0u8; 400];
    let key = ike.sk_ei();
    let sealed = seal_sk(key, 1, &aad, &pt).unwrap();
    c.bench_function("sk_seal_400B_aes256gcm", |bn| {
        bn.iter(|| seal_sk(key, 1, black_box(&aad), &pt).unwrap())
    });
    c.bench_function("sk_open_400B_aes256gcm", |bn| {
        bn.iter(|| open_sk(key, black_box(&aad), &sealed).unwrap())
    });
}

criterion_group!(benches, dh, signatures, derivation);
criterion_main!(benches);
