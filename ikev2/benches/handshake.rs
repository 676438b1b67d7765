//! Handshakes per second of the engine alone: two endpoints in memory, IKE_SA_INIT + IKE_AUTH
//! with the first GSA, for PSK, Ed25519 and ECDSA P-256 authentication.
//! Run: `cargo bench -p nvesec-ikev2 --bench handshake`.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nvesec_ikev2::config::{
    AuthError, ConnectionConfig, Credential, EngineConfig, GsaConfig, Identity, LocalSigner,
    PeerAuthMethod, PeerAuthenticator, PeerPublicKey,
};
use nvesec_ikev2::crypto::Signer;
use nvesec_ikev2::endpoint::{seeded_rng, Endpoint};
use nvesec_ikev2::sa::signature::public_key;

/// Stands in for certificate validation: returns a fixed key (chain parsing is pki's cost).
struct FixedKey(PeerPublicKey);

impl PeerAuthenticator for FixedKey {
    fn verify_peer_cert(
        &self,
        _: &[Vec<u8>],
        _: &Identity,
        _: SystemTime,
    ) -> Result<PeerPublicKey, AuthError> {
        Ok(self.0.clone())
    }
}

fn conn(
    me: &str,
    peer: &str,
    auth: Option<(Arc<dyn LocalSigner>, PeerPublicKey)>,
) -> Arc<EngineConfig> {
    let mut c = ConnectionConfig::psk(
        "c",
        Identity::Fqdn(me.into()),
        Identity::Fqdn(peer.into()),
        b"bench psk",
    );
    c.children.push(GsaConfig::geo_vnis("g", 1, 4096));
    if let Some((signer, peer_key)) = auth {
        c.local.credential = Credential::Signature {
            signer,
            chain: vec![vec![0x30; 600]],
        };
        c.remote.method = PeerAuthMethod::Certificate(Arc::new(FixedKey(peer_key)));
    }
    Arc::new(EngineConfig {
        connections: vec![Arc::new(c)],
        ..Default::default()
    })
}

fn handshake(a_cfg: &Arc<EngineConfig>, b_cfg: &Arc<EngineConfig>, seed: u8) {
    let now = Instant::now();
    let wall = SystemTime::UNIX_EPOCH;
    let (aa, ba) = (
        "192.0.2.1:500".parse().unwrap(),
        "192.0.2.2:500".parse().unwrap(),
    );
    let mut a = Endpoint::new(a_cfg.clone(), seeded_rng([seed; 32]), now, wall);
    let mut b = Endpoint::new(b_cfg.clone(), seeded_rng([seed ^ 0xff; 32]), now, wall);
    a.initiate(now, "c", aa, Some(ba)).unwrap();
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit() {
            b.handle_datagram(now, t.dst, t.src, &t.bytes);
            moved = true;
        }
        while let Some(t) = b.poll_transmit() {
            a.handle_datagram(now, t.dst, t.src, &t.bytes);
            moved = true;
        }
        if !moved {
            break;
        }
    }
    assert_eq!(a.ike_sa(a.ike_sas()[0]).unwrap().gsas().len(), 1);
}

fn ecdsa(scalar: [u8; 32]) -> Signer {
    use p256::pkcs8::EncodePrivateKey;
    let sk = p256::SecretKey::from_slice(&scalar).unwrap();
    Signer::from_pkcs8_der(sk.to_pkcs8_der().unwrap().as_bytes()).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("handshake");
    g.throughput(Throughput::Elements(1));
    let cases: Vec<(&str, Arc<EngineConfig>, Arc<EngineConfig>)> = {
        let (ea, eb) = (
            Signer::ed25519_from_seed(&[1; 32]),
            Signer::ed25519_from_seed(&[2; 32]),
        );
        let (pa, pb) = (public_key(&ea), public_key(&eb));
        let (ca, cb) = (ecdsa([1; 32]), ecdsa([2; 32]));
        let (qa, qb) = (public_key(&ca), public_key(&cb));
        vec![
            ("psk", conn("a", "b", None), conn("b", "a", None)),
            (
                "ed25519",
                conn("a", "b", Some((Arc::new(ea), pb))),
                conn("b", "a", Some((Arc::new(eb), pa))),
            ),
            (
                "ecdsa_p256",
                conn("a", "b", Some((Arc::new(ca), qb))),
                conn("b", "a", Some((Arc::new(cb), qa))),
            ),
        ]
    };
    for (name, a, b) in &cases {
        let mut seed = 0u8;
        g.bench_function(*name, |bench| {
            bench.iter(|| {
                seed = seed.wrapping_add(1);
                handshake(a, b, seed)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
