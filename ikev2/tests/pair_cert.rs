//! Digital Signature authentication (AUTH method 14, RFC 7427) with Ed25519 and ECDSA P-256,
//! CERT and CERTREQ payloads, and an abstract `PeerAuthenticator` standing in for `pki`.

mod util;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nvesec_ikev2::config::{
    AuthError, ConnectionConfig, Credential, Identity, IdentityMatcher, LocalSigner,
    PeerAuthMethod, PeerAuthenticator, PeerPublicKey,
};
use nvesec_ikev2::crypto::Signer;
use nvesec_ikev2::endpoint::Event;
use nvesec_ikev2::sa::events::DownReason;
use nvesec_ikev2::sa::signature::public_key;
use nvesec_ikev2::sa::SaState;
use nvesec_ikev2::wire::{
    AuthMethod, ExchangeType, Message, NotifyType, Payload, PayloadType as P,
};
use util::*;

/// Trusts a fixed set of "certificates" (opaque DER stand-ins) bound to identities; records
/// the wall-clock time it was asked at.
struct FakePki {
    certs: HashMap<Vec<u8>, (Identity, PeerPublicKey)>,
    not_after: SystemTime,
}

impl PeerAuthenticator for FakePki {
    fn verify_peer_cert(
        &self,
        chain: &[Vec<u8>],
        id: &Identity,
        now: SystemTime,
    ) -> Result<PeerPublicKey, AuthError> {
        let (owner, key) = self
            .certs
            .get(&chain[0])
            .ok_or_else(|| AuthError::UntrustedChain("unknown issuer".into()))?;
        if now > self.not_after {
            return Err(AuthError::Validity);
        }
        if owner != id {
            return Err(AuthError::IdentityMismatch);
        }
        Ok(key.clone())
    }
}

fn cert_conn(
    name: &str,
    local: &str,
    remote: &str,
    remote_addr: &str,
    signer: Arc<dyn LocalSigner>,
    my_cert: &[u8],
    pki: Arc<FakePki>,
) -> ConnectionConfig {
    let mut c = psk_conn(name, local, remote, remote_addr, b"unused", Some((1, 10)));
    c.local.credential = Credential::Signature {
        signer,
        chain: vec![my_cert.to_vec()],
    };
    c.remote.method = PeerAuthMethod::Certificate(pki);
    c.remote.id = IdentityMatcher::DomainSuffix(".nve".into());
    c.send_certreq = true;
    c.certreq_ca_hashes = vec![[0xca; 20]];
    c
}

struct Keys {
    a: Arc<dyn LocalSigner>,
    a_pub: PeerPublicKey,
    b: Arc<dyn LocalSigner>,
    b_pub: PeerPublicKey,
}

fn ecdsa_signer(scalar: [u8; 32]) -> Signer {
    use p256::pkcs8::EncodePrivateKey;
    let sk = p256::SecretKey::from_slice(&scalar).unwrap();
    Signer::from_pkcs8_der(sk.to_pkcs8_der().unwrap().as_bytes()).unwrap()
}

fn ed25519() -> Keys {
    let a = Signer::ed25519_from_seed(&[1; 32]);
    let b = Signer::ed25519_from_seed(&[2; 32]);
    Keys {
        a_pub: public_key(&a),
        b_pub: public_key(&b),
        a: Arc::new(a),
        b: Arc::new(b),
    }
}

fn ecdsa() -> Keys {
    let a = ecdsa_signer([1; 32]);
    let b = ecdsa_signer([2; 32]);
    Keys {
        a_pub: public_key(&a),
        b_pub: public_key(&b),
        a: Arc::new(a),
        b: Arc::new(b),
    }
}

fn pki(entries: Vec<(&[u8], &str, PeerPublicKey)>) -> Arc<FakePki> {
    Arc::new(FakePki {
        certs: entries
            .into_iter()
            .map(|(c, id, k)| (c.to_vec(), (Identity::Fqdn(id.into()), k)))
            .collect(),
        not_after: SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000),
    })
}

fn run(keys: Keys, b_trusts_a: bool) -> (Net, usize, usize) {
    let (mut net, a, b) = start(keys, true, b_trusts_a);
    net.drive_for(Duration::from_secs(2), 100);
    (net, a, b)
}

/// A initiates towards B; each trusts the other's certificate or not. Nothing is delivered yet.
fn start(keys: Keys, a_trusts_b: bool, b_trusts_a: bool) -> (Net, usize, usize) {
    let trust_a = if b_trusts_a {
        vec![(&b"cert-a"[..], "a.nve", keys.a_pub.clone())]
    } else {
        vec![]
    };
    let trust_b = if a_trusts_b {
        vec![(&b"cert-b"[..], "b.nve", keys.b_pub.clone())]
    } else {
        vec![]
    };
    let mut net = Net::new();
    let a = net.add(
        "a",
        A_ADDR,
        engine(vec![cert_conn(
            "to-b",
            "a.nve",
            "b.nve",
            B_ADDR,
            keys.a.clone(),
            b"cert-a",
            pki(trust_b),
        )]),
        1,
    );
    let b = net.add(
        "b",
        B_ADDR,
        engine(vec![cert_conn(
            "to-a",
            "b.nve",
            "a.nve",
            A_ADDR,
            keys.b.clone(),
            b"cert-b",
            pki(trust_a),
        )]),
        2,
    );
    let now = net.now;
    net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    (net, a, b)
}

fn auth_of(payloads: Vec<Payload>) -> (AuthMethod, Vec<u8>) {
    payloads
        .into_iter()
        .find_map(|p| match p {
            Payload::Auth(a) => Some((a.method, a.data)),
            _ => None,
        })
        .unwrap()
}

#[test]
fn ed25519_certificates_authenticate_both_ways() {
    let (net, a, b) = run(ed25519(), true);
    assert_eq!(net.sa(a).state(), SaState::Established);
    assert_eq!(net.sa(b).state(), SaState::Established);
    // IKE_SA_INIT response carries a CERTREQ; IKE_AUTH carries CERT and CERTREQ.
    assert_eq!(
        payload_types(&net.captured[1].bytes, None),
        vec![
            P::SA,
            P::KE,
            P::NONCE,
            P::NOTIFY,
            P::NOTIFY,
            P::NOTIFY,
            P::VENDOR_ID,
            P::CERTREQ
        ]
    );
    assert_eq!(
        payload_types(&net.captured[2].bytes, Some(net.sa(b))),
        vec![
            P::SK,
            P::IDI,
            P::CERT,
            P::NOTIFY,
            P::CERTREQ,
            P::AUTH,
            P::SA,
            P::TSI,
            P::TSR
        ]
    );
    assert_eq!(
        payload_types(&net.captured[3].bytes, Some(net.sa(a))),
        vec![P::SK, P::IDR, P::CERT, P::AUTH, P::SA, P::TSI, P::TSR]
    );
    let certreq = Message::parse(&net.captured[1].bytes)
        .unwrap()
        .payloads
        .into_iter()
        .find_map(|p| match p {
            Payload::CertReq(c) => Some(c),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        certreq.ca_hashes().collect::<Vec<_>>(),
        vec![&[0xca; 20][..]]
    );
    let (method, data) = auth_of(net.sa(b).decrypt_from_peer(&net.captured[2].bytes).unwrap());
    assert_eq!(method, AuthMethod::DIGITAL_SIGNATURE);
    assert_eq!(&data[..8], &[7, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]);
    assert_eq!(data.len(), 8 + 64);
    assert_eq!(
        event_kinds(&net.nodes[b].events),
        vec!["IkeSaUp", "GsaInstall"]
    );
}

#[test]
fn ecdsa_p256_certificates_authenticate_both_ways() {
    let (net, a, b) = run(ecdsa(), true);
    assert_eq!(net.sa(a).state(), SaState::Established);
    assert_eq!(net.sa(b).state(), SaState::Established);
    let (method, data) = auth_of(net.sa(a).decrypt_from_peer(&net.captured[3].bytes).unwrap());
    assert_eq!(method, AuthMethod::DIGITAL_SIGNATURE);
    // ecdsa-with-SHA256 AlgorithmIdentifier, then a DER SEQUENCE signature.
    assert_eq!(data[0], 12);
    assert_eq!(
        &data[1..13],
        &[0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]
    );
    assert_eq!(data[13], 0x30);
}

#[test]
fn untrusted_certificate_gives_authentication_failed_and_no_sa() {
    let (net, a, b) = run(ed25519(), false);
    for n in [a, b] {
        assert_eq!(net.count_up(n), 0);
        assert!(net.nodes[n].ep.ike_sas().is_empty());
        assert!(net.nodes[n].events.iter().any(|e| matches!(
            e,
            Event::AuthFailed { notify, .. } if *notify == NotifyType::AUTHENTICATION_FAILED
        )));
    }
    assert!(net.nodes[b].events.iter().any(|e| matches!(
        e,
        Event::AuthFailed { reason, .. } if reason.contains("unknown issuer")
    )));
    assert_eq!(
        Message::parse(&net.captured[3].bytes)
            .unwrap()
            .payloads
            .len(),
        1
    );
}

/// Regression (found against strongSwan 5.9): the initiator that refuses the responder's
/// certificate must say so in a separate INFORMATIONAL (RFC 7296 §2.21.2), because the
/// responder already considers the SA established; the responder drops it on receipt.
#[test]
fn initiator_refusing_responder_certificate_sends_auth_failed_informational() {
    let (mut net, a, b) = start(ed25519(), false, true);
    // IKE_SA_INIT x2, IKE_AUTH x2, then A's INFORMATIONAL (not yet delivered).
    assert!(net.drive_until(100, |n| n.captured.len() >= 5));
    // Between nvesec peers the first GSA rode in IKE_AUTH: B installed it.
    assert_eq!(event_kinds(&net.nodes[b].events), ["IkeSaUp", "GsaInstall"]);
    let info = Message::parse(&net.captured[4].bytes).unwrap();
    assert_eq!(net.captured[4].from, a);
    assert_eq!(info.header.exchange, ExchangeType::INFORMATIONAL);
    assert_eq!(info.header.message_id, 2);
    assert!(!info.header.flags.is_response() && info.header.flags.is_initiator());
    assert_eq!(
        payload_types(&net.captured[4].bytes, Some(net.sa(b))),
        [P::SK, P::NOTIFY]
    );
    let inner = net.sa(b).decrypt_from_peer(&net.captured[4].bytes).unwrap();
    assert!(matches!(
        &inner[0],
        Payload::Notify(n) if n.ty == NotifyType::AUTHENTICATION_FAILED && n.data.is_empty()
    ));
    net.drive_for(Duration::from_secs(60), 100);
    // Sent once: A abandoned the SA, nothing is retransmitted.
    assert_eq!(net.captured.len(), 6);
    assert_eq!(event_kinds(&net.nodes[a].events), ["AuthFailed"]);
    assert_eq!(
        event_kinds(&net.nodes[b].events),
        [
            "IkeSaUp",
            "GsaInstall",
            "AuthFailed",
            "GsaRemove",
            "IkeSaDown"
        ]
    );
    assert!(net.nodes[b].events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: DownReason::AuthFailed,
            ..
        }
    )));
    assert!(net.nodes[a].ep.ike_sas().is_empty());
    assert!(net.nodes[b].ep.ike_sas().is_empty());
}

#[test]
fn certificate_of_another_identity_is_refused() {
    // B's PKI binds "cert-a" to c.nve, but A claims a.nve.
    let keys = ed25519();
    let mut net = Net::new();
    let a = net.add(
        "a",
        A_ADDR,
        engine(vec![cert_conn(
            "to-b",
            "a.nve",
            "b.nve",
            B_ADDR,
            keys.a.clone(),
            b"cert-a",
            pki(vec![(b"cert-b", "b.nve", keys.b_pub.clone())]),
        )]),
        1,
    );
    let b = net.add(
        "b",
        B_ADDR,
        engine(vec![cert_conn(
            "to-a",
            "b.nve",
            "a.nve",
            A_ADDR,
            keys.b.clone(),
            b"cert-b",
            pki(vec![(b"cert-a", "c.nve", keys.a_pub.clone())]),
        )]),
        2,
    );
    let now = net.now;
    net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(2), 100);
    assert_eq!(net.count_up(a) + net.count_up(b), 0);
    assert!(net.nodes[b].events.iter().any(|e| matches!(
        e,
        Event::AuthFailed { reason, .. } if reason.contains("identity does not match")
    )));
}

#[test]
fn ed25519_signature_needs_identity_hash_from_peer() {
    // Sanity of the RFC 7427 rule the engine applies: without hash 5 from the peer, no
    // Ed25519 AUTH is produced (strongSwan pitfall §5.2).
    use nvesec_ikev2::wire::HashAlgorithm;
    let s = Signer::ed25519_from_seed(&[9; 32]);
    let err = nvesec_ikev2::sa::signature::auth_data(&s, &[HashAlgorithm::SHA2_256], b"x");
    assert_eq!(err, Err(AuthError::NoCommonHash));
}
