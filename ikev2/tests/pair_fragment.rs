//! IKE fragmentation (RFC 7383): an IKE_AUTH carrying a certificate chain larger than the
//! fragment size goes as SKF fragments, each sealed on its own, reassembled after every
//! fragment verified; a tampered fragment is dropped and the retransmission completes.

mod util;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nvesec_ikev2::config::{
    AuthError, Credential, Identity, IdentityMatcher, PeerAuthMethod, PeerAuthenticator,
    PeerPublicKey,
};
use nvesec_ikev2::crypto::Signer;
use nvesec_ikev2::sa::signature::public_key;
use nvesec_ikev2::sa::SaState;
use nvesec_ikev2::wire::{IkeHeader, Message, Payload};
use util::*;

struct Trust(PeerPublicKey);

impl PeerAuthenticator for Trust {
    fn verify_peer_cert(
        &self,
        chain: &[Vec<u8>],
        _: &Identity,
        _: SystemTime,
    ) -> Result<PeerPublicKey, AuthError> {
        // The "chain" must arrive intact: 3 certificates of 900 bytes.
        if chain.len() != 3 || chain.iter().any(|c| c.len() != 900) {
            return Err(AuthError::UntrustedChain("chain damaged".into()));
        }
        Ok(self.0.clone())
    }
}

fn pair(faults: Faults) -> Net {
    let (sa, sb) = (
        Signer::ed25519_from_seed(&[1; 32]),
        Signer::ed25519_from_seed(&[2; 32]),
    );
    let (pa, pb) = (public_key(&sa), public_key(&sb));
    let mk = |name: &str, me: &str, peer: &str, remote: &str, s: Signer, trust: PeerPublicKey| {
        let mut c = psk_conn(name, me, peer, remote, b"-", Some((1, 10)));
        c.local.credential = Credential::Signature {
            signer: Arc::new(s),
            chain: (0..3u8).map(|i| vec![i; 900]).collect(),
        };
        c.remote.method = PeerAuthMethod::Certificate(Arc::new(Trust(trust)));
        c.remote.id = IdentityMatcher::Any;
        c
    };
    let mut net = Net::new();
    net.faults = faults;
    net.add(
        "a",
        A_ADDR,
        engine(vec![mk("to-b", "a.nve", "b.nve", B_ADDR, sa, pb)]),
        1,
    );
    net.add(
        "b",
        B_ADDR,
        engine(vec![mk("to-a", "b.nve", "a.nve", A_ADDR, sb, pa)]),
        2,
    );
    let now = net.now;
    net.nodes[0]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net
}

fn fragments_of(net: &Net, from: usize, msg_id: u32) -> Vec<(u16, u16)> {
    net.captured
        .iter()
        .filter(|c| c.from == from)
        .filter_map(|c| {
            let m = Message::parse(&c.bytes).ok()?;
            match (m.header.message_id == msg_id, m.payloads.last()) {
                (true, Some(Payload::Skf(f))) => Some((f.fragment_number, f.total_fragments)),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn large_ike_auth_is_fragmented_and_reassembled() {
    let mut net = pair(Faults::default());
    net.drive_for(Duration::from_secs(2), 200);
    assert_eq!(net.sa(0).state(), SaState::Established);
    assert_eq!(net.sa(1).state(), SaState::Established);
    // 3 x 900 bytes of certificates: three fragments each way, numbered 1..3 of 3.
    assert_eq!(fragments_of(&net, 0, 1), vec![(1, 3), (2, 3), (3, 3)]);
    assert_eq!(fragments_of(&net, 1, 1), vec![(1, 3), (2, 3), (3, 3)]);
    // No datagram exceeds 1280 bytes with IPv4 and UDP headers.
    for c in &net.captured {
        assert!(c.bytes.len() + 28 <= 1280, "{} bytes", c.bytes.len());
    }
    // IKE_SA_INIT is never fragmented.
    assert_eq!(
        IkeHeader::parse(&net.captured[0].bytes).unwrap().message_id,
        0
    );
    assert_eq!(net.captured.len(), 2 + 3 + 3);
}

#[test]
fn tampered_fragment_is_dropped_and_retransmission_completes() {
    let mut net = pair(Faults::default());
    // Datagram 4 = fragment 2 of the first IKE_AUTH request.
    net.tamper = Some(Box::new(|k, bytes: &mut Vec<u8>| {
        if k == 4 {
            let n = bytes.len();
            bytes[n - 1] ^= 0x80;
        }
    }));
    net.drive_for(Duration::from_secs(2), 200);
    assert_eq!(net.sa(1).state(), SaState::HalfOpen);
    net.drive_for(Duration::from_secs(10), 200);
    assert_eq!(net.sa(0).state(), SaState::Established);
    assert_eq!(net.sa(1).state(), SaState::Established);
    // The request went twice (3 fragments each), the response once.
    assert_eq!(fragments_of(&net, 0, 1).len(), 6);
    assert_eq!(fragments_of(&net, 1, 1).len(), 3);
}

#[test]
fn fragmented_handshake_survives_loss() {
    let mut net = pair(Faults {
        drop_every: Some(4),
        ..Default::default()
    });
    net.drive_for(Duration::from_secs(200), 5000);
    assert_eq!(net.sa(0).state(), SaState::Established);
    assert_eq!(net.sa(1).state(), SaState::Established);
    assert_eq!(net.count_up(0), 1);
    assert_eq!(net.count_up(1), 1);
}
