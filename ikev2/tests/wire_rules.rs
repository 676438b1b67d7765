//! Payload rules per exchange (RFC 7296 §1.2-§1.4, RFC 6023).

use nvesec_ikev2::wire::rules::{check_outer, check_payloads, RuleViolation};
use nvesec_ikev2::wire::*;

fn hdr(exchange: ExchangeType, flags: Flags) -> IkeHeader {
    IkeHeader {
        spi_i: 7,
        spi_r: 0,
        exchange,
        flags,
        message_id: 0,
    }
}

fn sa() -> Payload {
    Payload::Sa(Sa::new(vec![Proposal::new(
        1,
        ProtocolId::IKE,
        vec![],
        vec![Transform::dh(DhGroup::CURVE25519)],
    )]))
}
fn ke() -> Payload {
    Payload::Ke(Ke::new(DhGroup::CURVE25519, vec![1; 32]))
}
fn nonce() -> Payload {
    Payload::Nonce(Nonce::new(vec![2; 32]))
}
fn notify(ty: NotifyType) -> Payload {
    Payload::Notify(Notify::new(ty, vec![]))
}
fn auth() -> Payload {
    Payload::Auth(Auth::new(AuthMethod::SHARED_KEY_MIC, vec![3; 32]))
}

#[test]
fn ike_sa_init() {
    let x = ExchangeType::IKE_SA_INIT;
    let req = Message::new(
        hdr(x, Flags::INITIATOR),
        vec![
            sa(),
            ke(),
            nonce(),
            notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED),
        ],
    );
    assert_eq!(check_outer(&req), Ok(()));
    // Missing KE.
    let bad = Message::new(hdr(x, Flags::INITIATOR), vec![sa(), nonce()]);
    assert_eq!(
        check_outer(&bad),
        Err(RuleViolation::TooFew {
            ty: PayloadType::KE,
            min: 1,
            got: 0
        })
    );
    // Two nonces.
    let bad = Message::new(hdr(x, Flags::INITIATOR), vec![sa(), ke(), nonce(), nonce()]);
    assert_eq!(
        check_outer(&bad),
        Err(RuleViolation::TooMany {
            ty: PayloadType::NONCE,
            max: 1,
            got: 2
        })
    );
    // AUTH has no business here: ignored, not refused (RFC 7296 §2.5), but it still does not
    // stand in for a missing payload. SK is refused.
    let odd = Message::new(hdr(x, Flags::INITIATOR), vec![sa(), ke(), nonce(), auth()]);
    assert_eq!(check_outer(&odd), Ok(()));
    let bad = Message::new(hdr(x, Flags::INITIATOR), vec![sa(), nonce(), auth()]);
    assert!(matches!(
        check_outer(&bad),
        Err(RuleViolation::TooFew {
            ty: PayloadType::KE,
            ..
        })
    ));
    let bad = Message::new(
        hdr(x, Flags::INITIATOR),
        vec![Payload::Sk(Sk::placeholder(PayloadType::NONE, 25))],
    );
    assert_eq!(check_outer(&bad), Err(RuleViolation::Encrypted(x)));
    // Response with only a COOKIE or INVALID_KE_PAYLOAD: fine.
    let resp = Flags::RESPONSE;
    let cookie = Message::new(hdr(x, resp), vec![notify(NotifyType::COOKIE)]);
    assert_eq!(check_outer(&cookie), Ok(()));
    let ike = Message::new(
        hdr(x, resp),
        vec![Payload::Notify(Notify::invalid_ke_payload(
            DhGroup::CURVE25519,
        ))],
    );
    assert_eq!(check_outer(&ike), Ok(()));
    // A status notify alone is not enough.
    let bad = Message::new(
        hdr(x, resp),
        vec![notify(NotifyType::CHILDLESS_IKEV2_SUPPORTED)],
    );
    assert!(matches!(
        check_outer(&bad),
        Err(RuleViolation::TooFew { .. })
    ));
    // Unknown non-critical payloads are tolerated.
    let unk = Payload::Unknown {
        ty: PayloadType(200),
        body: vec![],
    };
    let ok = Message::new(hdr(x, Flags::INITIATOR), vec![unk, sa(), ke(), nonce()]);
    assert_eq!(check_outer(&ok), Ok(()));
}

#[test]
fn ike_auth_outer_and_inner() {
    let x = ExchangeType::IKE_AUTH;
    let sk = Payload::Sk(Sk::placeholder(PayloadType::IDI, 40));
    assert_eq!(
        check_outer(&Message::new(hdr(x, Flags::INITIATOR), vec![sk.clone()])),
        Ok(())
    );
    assert_eq!(
        check_outer(&Message::new(hdr(x, Flags::INITIATOR), vec![nonce()])),
        Err(RuleViolation::NotEncrypted(x))
    );
    assert_eq!(
        check_outer(&Message::new(hdr(x, Flags::INITIATOR), vec![nonce(), sk])),
        Err(RuleViolation::NotAllowed {
            ty: PayloadType::NONCE
        })
    );
    // Childless request: IDi, AUTH, notifies.
    let childless = [
        Payload::IdI(Id::fqdn("a")),
        auth(),
        notify(NotifyType::INITIAL_CONTACT),
    ];
    assert_eq!(check_payloads(x, false, &childless), Ok(()));
    // Response without AUTH, unless it reports AUTHENTICATION_FAILED.
    let bad = [Payload::IdR(Id::fqdn("b"))];
    assert_eq!(
        check_payloads(x, true, &bad),
        Err(RuleViolation::TooFew {
            ty: PayloadType::AUTH,
            min: 1,
            got: 0
        })
    );
    assert_eq!(
        check_payloads(x, true, &[notify(NotifyType::AUTHENTICATION_FAILED)]),
        Ok(())
    );
    // CERTREQ only in the request: ignored in the response (RFC 7296 §2.5).
    let odd = [
        Payload::IdR(Id::fqdn("b")),
        auth(),
        Payload::CertReq(CertReq::x509(&[])),
    ];
    assert_eq!(check_payloads(x, true, &odd), Ok(()));
    // Two AUTH, even next to an error notify: the maximum always applies.
    let bad = [
        Payload::IdR(Id::fqdn("b")),
        auth(),
        auth(),
        notify(NotifyType::TS_UNACCEPTABLE),
    ];
    assert_eq!(
        check_payloads(x, true, &bad),
        Err(RuleViolation::TooMany {
            ty: PayloadType::AUTH,
            max: 1,
            got: 2
        })
    );
}

#[test]
fn create_child_sa_and_informational() {
    let x = ExchangeType::CREATE_CHILD_SA;
    assert_eq!(check_payloads(x, false, &[sa(), nonce(), ke()]), Ok(()));
    assert!(check_payloads(x, false, &[nonce()]).is_err());
    assert_eq!(
        check_payloads(x, true, &[notify(NotifyType::TEMPORARY_FAILURE)]),
        Ok(())
    );
    let i = ExchangeType::INFORMATIONAL;
    assert_eq!(check_payloads(i, false, &[]), Ok(())); // liveness check
    assert_eq!(
        check_payloads(i, false, &[Payload::Delete(Delete::ike())]),
        Ok(())
    );
    assert_eq!(check_payloads(i, true, &[sa()]), Ok(())); // ignored (RFC 7296 §2.5)
    assert_eq!(
        check_payloads(x, false, &[sa(), nonce(), nonce()]),
        Err(RuleViolation::TooMany {
            ty: PayloadType::NONCE,
            max: 1,
            got: 2
        })
    );
    assert_eq!(
        check_payloads(ExchangeType::IKE_INTERMEDIATE, false, &[]),
        Err(RuleViolation::UnsupportedExchange(
            ExchangeType::IKE_INTERMEDIATE
        ))
    );
}
