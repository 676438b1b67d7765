//! Issue 14 item 7: RFC 7296 §3 payload multiplicity is enforced on authenticated requests.
//! A hostile (enrolled) peer re-seals its own CREATE_CHILD_SA request with a duplicated
//! singleton payload. Before the fix A picked one copy (the last Nonce, the last TSi) and
//! installed a GSA from it; now the request is malformed: A answers INVALID_SYNTAX alone
//! (RFC 7296 §2.21.3), installs nothing, and ends the IKE SA as for any other malformed
//! request (INVALID_SYNTAX is fatal in both peers).

mod util;

use nvesec_ikev2::crypto::sk::{seal_sk, sealed_len, ICV_LEN, IV_LEN};
use nvesec_ikev2::endpoint::Event;
use nvesec_ikev2::sa::events::DownReason;
use nvesec_ikev2::wire::*;
use util::*;

/// The PSK pair of `util`, up.
fn established() -> Net {
    established_psk_pair(1, 2)
}

/// `bytes`, a request node `from` sent to node `to`, with its inner payloads edited and sealed
/// again with `from`'s SK_e (what a hostile peer holding its own keys can send).
fn reseal(
    net: &Net,
    from: usize,
    to: usize,
    bytes: &[u8],
    edit: impl FnOnce(&mut Vec<Payload>),
) -> Vec<u8> {
    let mut inner = net.sa(to).decrypt_from_peer(bytes).expect("decrypt");
    edit(&mut inner);
    let hdr = IkeHeader::parse(bytes).unwrap();
    let (first, plain) = encode_inner(&inner).unwrap();
    let sk = Sk::placeholder(first, sealed_len(plain.len()));
    let (mut out, r) = Message::new(hdr, vec![Payload::Sk(sk)])
        .to_bytes_with_sk_ranges(IV_LEN, ICV_LEN)
        .unwrap();
    let sender = net.sa(from);
    let key = sender.keys().unwrap().outbound(sender.is_initiator());
    // An IV the sender's counter never reaches in this test.
    let body = seal_sk(key, 1 << 40, &out[r.aad.clone()], &plain).unwrap();
    out[r.iv.start..r.icv.end].copy_from_slice(&body);
    out
}

/// B rekeys its GSA; its request is edited by `edit` and delivered to A. Returns A's answer
/// decrypted by B, and A's events caused by the request.
fn hostile_create_child(edit: impl FnOnce(&mut Vec<Payload>)) -> (Net, Vec<Payload>, Vec<Event>) {
    let mut net = established();
    let (ib, now) = (net.sa_id(1), net.now);
    let inbound = net.sa(1).gsas()[0].inbound_id;
    net.nodes[1].ep.rekey_gsa(now, ib, inbound).unwrap();
    let req = net.nodes[1]
        .ep
        .poll_transmit()
        .expect("B's CREATE_CHILD_SA");
    let bad = reseal(&net, 1, 0, &req.bytes, edit);
    let before = net.nodes[0].events.len();
    net.nodes[0]
        .ep
        .handle_datagram(now, addr(A_ADDR), addr(B_ADDR), &bad);
    let resp = net.nodes[0].ep.poll_transmit().expect("A answers");
    assert!(net.nodes[0].ep.poll_transmit().is_none());
    let answer = net.sa(1).decrypt_from_peer(&resp.bytes).expect("decrypt");
    net.pump();
    let events = net.nodes[0].events[before..].to_vec();
    (net, answer, events)
}

fn assert_refused_with_invalid_syntax(net: &Net, answer: &[Payload], events: &[Event]) {
    assert_eq!(
        answer,
        [Payload::Notify(Notify::new(
            NotifyType::INVALID_SYNTAX,
            vec![]
        ))],
        "A's answer"
    );
    assert!(
        !events.iter().any(|e| matches!(e, Event::GsaInstall { .. })),
        "A installed a GSA from a malformed request: {:?}",
        event_kinds(events)
    );
    // INVALID_SYNTAX ends the IKE SA (RFC 7296 §2.21.3), as for any malformed request.
    assert!(events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: DownReason::NegotiationFailed(_),
            ..
        }
    )));
    assert!(net.nodes[0].ep.ike_sas().is_empty());
}

#[test]
fn create_child_request_with_two_nonces_is_invalid_syntax() {
    let (net, answer, events) = hostile_create_child(|inner| {
        let at = inner
            .iter()
            .position(|p| matches!(p, Payload::Nonce(_)))
            .expect("a Nonce");
        inner.insert(at + 1, Payload::Nonce(Nonce::new(vec![0x5a; 32])));
    });
    assert_refused_with_invalid_syntax(&net, &answer, &events);
}

#[test]
fn create_child_request_with_two_tsi_is_invalid_syntax() {
    let (net, answer, events) = hostile_create_child(|inner| {
        // A new GSA (no REKEY_SA) whose second TSi asks for more VNIs than the first.
        inner.retain(|p| !matches!(p, Payload::Notify(n) if n.ty == NotifyType::REKEY_SA));
        let at = inner
            .iter()
            .position(|p| matches!(p, Payload::TsI(_)))
            .expect("a TSi");
        let Payload::TsI(tsi) = inner[at].clone() else {
            unreachable!()
        };
        inner.insert(at + 1, Payload::TsI(tsi));
    });
    assert_refused_with_invalid_syntax(&net, &answer, &events);
}

/// The same request unedited (only re-sealed) is accepted: the tests above fail for the
/// duplicate, not for the re-sealing.
#[test]
fn resealed_request_without_duplicates_is_answered() {
    let (net, answer, events) = hostile_create_child(|_| {});
    let types: Vec<_> = answer.iter().map(Payload::payload_type).collect();
    assert_eq!(
        types,
        [
            PayloadType::SA,
            PayloadType::NONCE,
            PayloadType::TSI,
            PayloadType::TSR
        ]
    );
    assert!(events.iter().any(|e| matches!(e, Event::GsaInstall { .. })));
    assert_eq!(net.sa(0).gsas().len(), 2);
}
