//! Two engines through the simulated network: IKE_SA_INIT + IKE_AUTH with PSK, first GSA in
//! IKE_AUTH or childless, authorization, authentication failures, cookies, tampering.

mod util;

use std::time::Duration;

use nvesec_ikev2::config::{ChildlessPolicy, Identity};
use nvesec_ikev2::crypto::prf::prf_plus_reference;
use nvesec_ikev2::endpoint::{Event, GsaKeys};
use nvesec_ikev2::sa::keys::Prf;
use nvesec_ikev2::sa::SaState;
use nvesec_ikev2::wire::{Flags, IkeHeader, Message, NotifyType, Payload, PayloadType as P};
use util::*;

fn pair(
    a_conn: nvesec_ikev2::config::ConnectionConfig,
    b_conn: nvesec_ikev2::config::ConnectionConfig,
) -> (Net, usize, usize) {
    let mut net = Net::new();
    let a = net.add("a", A_ADDR, engine(vec![a_conn]), 1);
    let b = net.add("b", B_ADDR, engine(vec![b_conn]), 2);
    (net, a, b)
}

fn standard() -> (Net, usize, usize) {
    pair(
        psk_conn(
            "to-b",
            "a.nve",
            "b.nve",
            B_ADDR,
            b"s3cret-psk",
            Some((100, 199)),
        ),
        psk_conn(
            "to-a",
            "b.nve",
            "a.nve",
            A_ADDR,
            b"s3cret-psk",
            Some((150, 300)),
        ),
    )
}

fn gsa_installs(events: &[Event]) -> Vec<(GsaKeys, GsaKeys, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::GsaInstall {
                inbound,
                outbound,
                outbound_active,
                ..
            } => Some((inbound.clone(), outbound.clone(), *outbound_active)),
            _ => None,
        })
        .collect()
}

fn nonce_of(bytes: &[u8]) -> Vec<u8> {
    Message::parse(bytes)
        .unwrap()
        .payloads
        .into_iter()
        .find_map(|p| match p {
            Payload::Nonce(n) => Some(n.data),
            _ => None,
        })
        .unwrap()
}

#[test]
fn psk_handshake_with_first_gsa_in_ike_auth() {
    let (mut net, a, b) = standard();
    let now = net.now;
    net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(2), 100);

    // Exactly four datagrams: IKE_SA_INIT and IKE_AUTH, each request and response.
    assert_eq!(net.captured.len(), 4);
    let (sa_a, sa_b) = (net.sa(a), net.sa(b));
    assert_eq!(sa_a.state(), SaState::Established);
    assert_eq!(sa_b.state(), SaState::Established);
    assert_eq!(sa_a.spis(), sa_b.spis());
    assert!(sa_a.is_initiator() && !sa_b.is_initiator());

    // Headers: message IDs 0,0,1,1; I flag on A's messages, R flag on responses.
    let hdrs: Vec<IkeHeader> = net
        .captured
        .iter()
        .map(|c| IkeHeader::parse(&c.bytes).unwrap())
        .collect();
    assert_eq!(
        hdrs.iter()
            .map(|h| (h.message_id, h.flags))
            .collect::<Vec<_>>(),
        vec![
            (0, Flags::INITIATOR),
            (0, Flags::RESPONSE),
            (1, Flags::INITIATOR),
            (1, Flags::RESPONSE)
        ]
    );
    assert_eq!(hdrs[0].spi_r, 0);
    assert_eq!((hdrs[1].spi_i, hdrs[1].spi_r), sa_a.spis());

    // Payload sequences (SK decrypted by the receiving side).
    assert_eq!(
        payload_types(&net.captured[0].bytes, None),
        vec![P::SA, P::KE, P::NONCE, P::NOTIFY, P::NOTIFY, P::VENDOR_ID]
    );
    assert_eq!(
        payload_types(&net.captured[1].bytes, None),
        vec![
            P::SA,
            P::KE,
            P::NONCE,
            P::NOTIFY,
            P::NOTIFY,
            P::NOTIFY,
            P::VENDOR_ID
        ]
    );
    assert_eq!(
        payload_types(&net.captured[2].bytes, Some(sa_b)),
        vec![P::SK, P::IDI, P::NOTIFY, P::AUTH, P::SA, P::TSI, P::TSR]
    );
    assert_eq!(
        payload_types(&net.captured[3].bytes, Some(sa_a)),
        vec![P::SK, P::IDR, P::AUTH, P::SA, P::TSI, P::TSR]
    );
    let notifies: Vec<NotifyType> = Message::parse(&net.captured[1].bytes)
        .unwrap()
        .notifies()
        .map(|n| n.ty)
        .collect();
    assert_eq!(
        notifies,
        vec![
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            NotifyType::SIGNATURE_HASH_ALGORITHMS,
            NotifyType::CHILDLESS_IKEV2_SUPPORTED
        ]
    );

    // Both ends derived the same SK_* keys (168 bytes for SHA2-256 + AES-256-GCM).
    let (ka, kb) = (sa_a.keys().unwrap(), sa_b.keys().unwrap());
    let all = |k: &nvesec_ikev2::sa::keys::IkeKeys| {
        [
            k.sk_d().expose().to_vec(),
            k.sk_ei().keymat().expose().to_vec(),
            k.sk_er().keymat().expose().to_vec(),
            k.sk_pi().expose().to_vec(),
            k.sk_pr().expose().to_vec(),
        ]
    };
    assert_eq!(all(ka), all(kb));
    let total: usize = all(ka).iter().map(Vec::len).sum();
    assert_eq!(total, 168);

    // Events, in order.
    assert_eq!(
        event_kinds(&net.nodes[a].events),
        vec!["IkeSaUp", "GsaInstall"]
    );
    assert_eq!(
        event_kinds(&net.nodes[b].events),
        vec!["IkeSaUp", "GsaInstall"]
    );
    match &net.nodes[b]
        .events
        .iter()
        .find(|e| matches!(e, Event::IkeSaUp { .. }))
    {
        Some(Event::IkeSaUp {
            peer_id,
            initiator,
            gsa_capable,
            ..
        }) => {
            assert_eq!(peer_id, &Identity::Fqdn("a.nve".into()));
            assert!(!initiator && *gsa_capable);
        }
        _ => unreachable!(),
    }

    // GSA keys: A's inbound is B's outbound and vice versa; KEYMAT = prf+(SK_d, Ni | Nr),
    // initiator-to-responder slice first, 36 bytes each (AES-256 key + salt).
    let ga = gsa_installs(&net.nodes[a].events);
    let gb = gsa_installs(&net.nodes[b].events);
    let (a_in, a_out, a_active) = &ga[0];
    let (b_in, b_out, b_active) = &gb[0];
    assert!(*a_active && *b_active);
    assert_eq!(a_in, b_out);
    assert_eq!(a_out, b_in);
    assert_ne!(a_in.gsa_id, a_out.gsa_id);
    let ni = nonce_of(&net.captured[0].bytes);
    let nr = nonce_of(&net.captured[1].bytes);
    // Oracle: prf+ computed literally as RFC 7296 §2.13 writes it (not the engine's HKDF path).
    let km =
        prf_plus_reference(Prf::HmacSha256, ka.sk_d().expose(), &[ni, nr].concat(), 72).unwrap();
    assert_eq!(a_out.key_material(), &km[..36]);
    assert_eq!(a_in.key_material(), &km[36..]);

    // Narrowing: A asked for VNIs 100-199, B allows 150-300: both install 150-199.
    for g in [&sa_a.gsas()[0], &sa_b.gsas()[0]] {
        assert_eq!(g.params.selectors.geneve.len(), 1);
        let r = g.params.selectors.geneve[0];
        assert_eq!((r.vni_start, r.vni_end), (150, 199));
    }
    assert_eq!(sa_a.gsas()[0].inbound_id, sa_b.gsas()[0].outbound_id);
    // No timers left but none for retransmission: window is idle.
    assert_eq!(
        net.nodes[a].ep.half_open_count() + net.nodes[b].ep.half_open_count(),
        0
    );
}

#[test]
fn identical_seeds_give_identical_bytes() {
    let run = || {
        let (mut net, a, _) = standard();
        let now = net.now;
        net.nodes[a]
            .ep
            .initiate(now, "to-b", addr(A_ADDR), None)
            .unwrap();
        net.drive_for(Duration::from_secs(2), 100);
        net.captured
            .iter()
            .map(|c| c.bytes.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn childless_ike_sa_then_create_child_sa() {
    let mut ac = psk_conn("to-b", "a.nve", "b.nve", B_ADDR, b"k", Some((10, 20)));
    ac.childless = ChildlessPolicy::Force;
    let bc = psk_conn("to-a", "b.nve", "a.nve", A_ADDR, b"k", Some((0, 100)));
    let (mut net, a, b) = pair(ac, bc);
    let now = net.now;
    net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(2), 100);
    assert_eq!(net.captured.len(), 4);
    assert_eq!(
        payload_types(&net.captured[2].bytes, Some(net.sa(b))),
        vec![P::SK, P::IDI, P::NOTIFY, P::AUTH]
    );
    assert_eq!(
        payload_types(&net.captured[3].bytes, Some(net.sa(a))),
        vec![P::SK, P::IDR, P::AUTH]
    );
    assert_eq!(event_kinds(&net.nodes[a].events), vec!["IkeSaUp"]);

    // --> CREATE_CHILD_SA { SA, Ni, TSi, TSr }  <-- { SA, Nr, TSi, TSr }
    let id = net.sa_id(a);
    let now = net.now;
    net.nodes[a].ep.create_gsa(now, id, "geneve").unwrap();
    net.drive_for(Duration::from_secs(2), 100);
    assert_eq!(net.captured.len(), 6);
    let hdr = IkeHeader::parse(&net.captured[4].bytes).unwrap();
    assert_eq!(hdr.message_id, 2);
    assert_eq!(
        payload_types(&net.captured[4].bytes, Some(net.sa(b))),
        vec![P::SK, P::SA, P::NONCE, P::TSI, P::TSR]
    );
    assert_eq!(
        payload_types(&net.captured[5].bytes, Some(net.sa(a))),
        vec![P::SK, P::SA, P::NONCE, P::TSI, P::TSR]
    );
    let ga = gsa_installs(&net.nodes[a].events);
    let gb = gsa_installs(&net.nodes[b].events);
    assert_eq!(ga.len(), 1);
    assert_eq!(ga[0].0, gb[0].1);
    assert_eq!(ga[0].1, gb[0].0);
    // KEYMAT from the CREATE_CHILD_SA nonces, not the IKE_SA_INIT ones.
    let ni = nonce_of_inner(&net.captured[4].bytes, net.sa(b));
    let nr = nonce_of_inner(&net.captured[5].bytes, net.sa(a));
    let sk_d = net.sa(a).keys().unwrap().sk_d().expose().to_vec();
    let km = prf_plus_reference(Prf::HmacSha256, &sk_d, &[ni, nr].concat(), 72).unwrap();
    assert_eq!(ga[0].1.key_material(), &km[..36]);
}

fn nonce_of_inner(bytes: &[u8], reader: &nvesec_ikev2::sa::IkeSa) -> Vec<u8> {
    reader
        .decrypt_from_peer(bytes)
        .unwrap()
        .into_iter()
        .find_map(|p| match p {
            Payload::Nonce(n) => Some(n.data),
            _ => None,
        })
        .unwrap()
}

#[test]
fn unauthorized_vnis_get_ts_unacceptable_and_a_log() {
    let (mut net, a, b) = pair(
        psk_conn("to-b", "a.nve", "b.nve", B_ADDR, b"k", Some((100, 199))),
        psk_conn("to-a", "b.nve", "a.nve", A_ADDR, b"k", Some((500, 600))),
    );
    let now = net.now;
    net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(2), 100);
    // The IKE SA stands (RFC 7296 §2.21.2); no GSA anywhere.
    assert_eq!(net.sa(a).state(), SaState::Established);
    assert_eq!(net.sa(b).state(), SaState::Established);
    assert_eq!(
        event_kinds(&net.nodes[a].events),
        vec!["IkeSaUp", "GsaRefused"]
    );
    assert_eq!(
        event_kinds(&net.nodes[b].events),
        vec!["IkeSaUp", "GsaRefused"]
    );
    assert_eq!(
        payload_types(&net.captured[3].bytes, Some(net.sa(a))),
        vec![P::SK, P::IDR, P::AUTH, P::NOTIFY]
    );
    for n in [a, b] {
        assert!(net.nodes[n].events.iter().any(|e| matches!(
            e,
            Event::GsaRefused { notify, .. } if *notify == NotifyType::TS_UNACCEPTABLE
        )));
        assert!(net.sa(n).gsas().is_empty());
    }
    assert!(net.nodes[b].events.iter().any(|e| matches!(
        e,
        Event::Log(r) if r.context == "<to-a|1>" && r.message.contains("refused")
    )));
}

fn assert_auth_failure(mut net: Net, a: usize, b: usize) {
    let now = net.now;
    net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(2), 100);
    assert_eq!(net.captured.len(), 4);
    for n in [a, b] {
        assert_eq!(net.count_up(n), 0, "{} came up", net.nodes[n].name);
        assert!(net.nodes[n].ep.ike_sas().is_empty());
        assert!(net.nodes[n].events.iter().any(|e| matches!(
            e,
            Event::AuthFailed { notify, .. } if *notify == NotifyType::AUTHENTICATION_FAILED
        )));
        assert!(!event_kinds(&net.nodes[n].events).contains(&"GsaInstall"));
    }
    // The responder's answer is SK{N(AUTHENTICATION_FAILED)}, checked with its keys.
    let resp = &net.captured[3].bytes;
    assert_eq!(Message::parse(resp).unwrap().payloads.len(), 1);
}

#[test]
fn wrong_psk_fails_with_authentication_failed() {
    let (net, a, b) = pair(
        psk_conn("to-b", "a.nve", "b.nve", B_ADDR, b"one", Some((1, 2))),
        psk_conn("to-a", "b.nve", "a.nve", A_ADDR, b"two", Some((1, 2))),
    );
    assert_auth_failure(net, a, b);
}

#[test]
fn wrong_identity_fails_with_authentication_failed() {
    let (net, a, b) = pair(
        psk_conn("to-b", "a.nve", "b.nve", B_ADDR, b"k", Some((1, 2))),
        psk_conn(
            "to-a",
            "b.nve",
            "someone-else.nve",
            A_ADDR,
            b"k",
            Some((1, 2)),
        ),
    );
    assert_auth_failure(net, a, b);
}

#[test]
fn tampered_ike_auth_is_dropped_then_retransmission_succeeds() {
    let (mut net, a, b) = standard();
    // Flip one ciphertext bit of datagram 3 (the first IKE_AUTH request).
    net.tamper = Some(Box::new(|k, bytes: &mut Vec<u8>| {
        if k == 3 {
            let n = bytes.len();
            bytes[n - 20] ^= 0x01;
        }
    }));
    let now = net.now;
    net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(3), 100);
    // Dropped silently: no answer, no state change.
    assert_eq!(net.captured.len(), 3);
    assert_eq!(net.sa(b).state(), SaState::HalfOpen);
    // The retransmission 4 s later carries the identical (untampered) bytes.
    net.drive_for(Duration::from_secs(5), 100);
    assert_eq!(net.captured.len(), 5);
    assert_eq!(net.sa(a).state(), SaState::Established);
    assert_eq!(
        net.captured[3].at - net.captured[2].at,
        Duration::from_secs(4)
    );
    assert_eq!(net.count_up(b), 1);
}

#[test]
fn cookies_above_threshold() {
    let mut net = Net::new();
    let a = net.add(
        "a",
        A_ADDR,
        engine(vec![psk_conn(
            "to-b",
            "a.nve",
            "b.nve",
            B_ADDR,
            b"k",
            Some((1, 9)),
        )]),
        1,
    );
    let mut bcfg = engine(vec![psk_conn(
        "to-a",
        "b.nve",
        "a.nve",
        A_ADDR,
        b"k",
        Some((1, 9)),
    )]);
    bcfg.cookie_threshold = 0; // every IKE_SA_INIT needs a cookie
    let b = net.add("b", B_ADDR, bcfg, 2);
    let now = net.now;
    net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(2), 100);
    assert_eq!(net.captured.len(), 6);
    // <-- HDR(SPIr=0), N(COOKIE)
    let m1 = Message::parse(&net.captured[1].bytes).unwrap();
    assert_eq!(m1.header.spi_r, 0);
    assert_eq!(payload_types(&net.captured[1].bytes, None), vec![P::NOTIFY]);
    // --> N(COOKIE) first, the rest unchanged (same nonce).
    assert_eq!(
        payload_types(&net.captured[2].bytes, None),
        vec![
            P::NOTIFY,
            P::SA,
            P::KE,
            P::NONCE,
            P::NOTIFY,
            P::NOTIFY,
            P::VENDOR_ID
        ]
    );
    assert_eq!(
        nonce_of(&net.captured[0].bytes),
        nonce_of(&net.captured[2].bytes)
    );
    assert_eq!(m1.notifies().next().unwrap().ty, NotifyType::COOKIE);
    assert_eq!(net.sa(a).state(), SaState::Established);
    assert_eq!(net.nodes[b].ep.drop_counters().cookie_required, 1);
    // The AUTH signed the *second* IKE_SA_INIT: authentication succeeded, so it did.
    assert_eq!(net.count_up(b), 1);
}

#[test]
fn acquire_initiates_then_reports_installed() {
    use nvesec_ikev2::endpoint::AcquireAction;
    let (mut net, a, _b) = standard();
    let now = net.now;
    assert!(
        net.nodes[a].ep.on_acquire(now, addr(A_ADDR), 5000).is_err(),
        "VNI outside every policy"
    );
    let first = net.nodes[a].ep.on_acquire(now, addr(A_ADDR), 160).unwrap();
    assert!(matches!(first, AcquireAction::Initiated(_)));
    assert!(matches!(
        net.nodes[a].ep.on_acquire(now, addr(A_ADDR), 160).unwrap(),
        AcquireAction::Pending(_)
    ));
    net.drive_for(Duration::from_secs(2), 100);
    let now = net.now;
    assert!(matches!(
        net.nodes[a].ep.on_acquire(now, addr(A_ADDR), 160).unwrap(),
        AcquireAction::AlreadyInstalled(_)
    ));
    assert_eq!(net.count_up(a), 1);
}

#[test]
fn responder_answers_wrong_ke_group_with_invalid_ke_payload_and_keeps_no_state() {
    use nvesec_ikev2::config::IkeProposal;
    use nvesec_ikev2::sa::proposal::ike_sa_payload;
    use nvesec_ikev2::wire::{DhGroup, ExchangeType, Ke, Nonce};
    let (mut net, _a, b) = standard();
    // SA offers group 31 (and 19 in a second proposal), but the KE is group 19.
    let p19 = IkeProposal {
        dh_group: 19,
        ..Default::default()
    };
    let req = Message::new(
        IkeHeader {
            spi_i: 0x1122_3344_5566_7788,
            spi_r: 0,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: Flags::INITIATOR,
            message_id: 0,
        },
        vec![
            Payload::Sa(ike_sa_payload(&[p19, IkeProposal::default()], None)),
            Payload::Ke(Ke::new(DhGroup(19), vec![4; 64])),
            Payload::Nonce(Nonce::new(vec![9; 32])),
        ],
    )
    .to_bytes()
    .unwrap();
    let now = net.now;
    net.nodes[b]
        .ep
        .handle_datagram(now, addr(B_ADDR), addr(A_ADDR), &req);
    let resp = net.nodes[b].ep.poll_transmit().expect("an answer");
    let m = Message::parse(&resp.bytes).unwrap();
    assert_eq!(m.header.spi_i, 0x1122_3344_5566_7788);
    assert_eq!(m.header.spi_r, 0);
    assert!(m.header.flags.is_response());
    let n: Vec<_> = m.notifies().collect();
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].ty, NotifyType::INVALID_KE_PAYLOAD);
    assert_eq!(n[0].data, vec![0, 31], "the group we want, 2 octets");
    assert_eq!(net.nodes[b].ep.half_open_count(), 0);
    assert!(net.nodes[b].ep.ike_sas().is_empty());
}

#[test]
fn cookies_under_a_half_open_flood() {
    let mut net = Net::new();
    let a = net.add(
        "a",
        A_ADDR,
        engine(vec![psk_conn(
            "to-b",
            "a.nve",
            "b.nve",
            B_ADDR,
            b"k",
            Some((1, 9)),
        )]),
        1,
    );
    let mut any = psk_conn("any", "b.nve", "a.nve", A_ADDR, b"k", Some((1, 9)));
    any.remote_addrs.clear(); // accept IKE_SA_INIT from anywhere
    let mut bcfg = engine(vec![any]);
    bcfg.cookie_threshold = 3;
    let b = net.add("b", B_ADDR, bcfg, 2);
    // A flooding initiator that never sees the answers (spoofed source).
    let m = net.add(
        "m",
        "198.51.100.7:500",
        engine(vec![psk_conn("to-b", "m.nve", "b.nve", B_ADDR, b"x", None)]),
        3,
    );
    net.unreachable.push(m);
    let now = net.now;
    for _ in 0..10 {
        net.nodes[m]
            .ep
            .initiate(now, "to-b", addr("198.51.100.7:500"), None)
            .unwrap();
    }
    net.drive_for(Duration::from_secs(1), 200);
    assert_eq!(
        net.nodes[b].ep.half_open_count(),
        3,
        "state only below the threshold"
    );
    assert_eq!(net.nodes[b].ep.drop_counters().cookie_required, 7);

    // The legitimate peer gets a cookie, returns it, and gets through.
    let start = net.captured.len();
    let now = net.now;
    net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(1), 200);
    let from_a: Vec<_> = net.captured[start..]
        .iter()
        .filter(|c| c.from == a)
        .collect();
    assert_eq!(
        payload_types(&from_a[1].bytes, None)[0],
        P::NOTIFY,
        "COOKIE first in the retry"
    );
    assert_eq!(net.count_up(a), 1);
    assert_eq!(net.nodes[b].ep.drop_counters().cookie_required, 8);
}

#[test]
fn per_peer_rate_limit_delays_but_does_not_prevent() {
    let mut net = Net::new();
    let a = net.add(
        "a",
        A_ADDR,
        engine(vec![psk_conn("to-b", "a.nve", "b.nve", B_ADDR, b"k", None)]),
        1,
    );
    let mut bcfg = engine(vec![psk_conn("to-a", "b.nve", "a.nve", A_ADDR, b"k", None)]);
    bcfg.per_peer_min_interval = Some(Duration::from_secs(10));
    let b = net.add("b", B_ADDR, bcfg, 2);
    let now = net.now;
    net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(2), 200);
    assert_eq!(net.count_up(b), 1, "second IKE_SA_INIT within 10 s dropped");
    assert!(net.nodes[b].ep.drop_counters().rate_limited >= 1);
    // Its retransmission at 11.2 s is past the interval and succeeds.
    net.drive_for(Duration::from_secs(15), 500);
    assert_eq!(net.count_up(b), 2);
}

#[test]
fn unknown_critical_payload_in_ike_sa_init_is_answered() {
    let (mut net, _a, b) = standard();
    // HDR(next = 200) + generic header with the critical bit, 4-byte body.
    let mut req = vec![0u8; 28];
    req[..8].copy_from_slice(&0xaabb_ccdd_0011_2233u64.to_be_bytes());
    req[16] = 200; // next payload
    req[17] = 0x20; // IKEv2
    req[18] = 34; // IKE_SA_INIT
    req[19] = 0x08; // I flag
    req.extend_from_slice(&[0, 0x80, 0, 8, 1, 2, 3, 4]);
    let len = req.len() as u32;
    req[24..28].copy_from_slice(&len.to_be_bytes());
    let now = net.now;
    net.nodes[b]
        .ep
        .handle_datagram(now, addr(B_ADDR), addr(A_ADDR), &req);
    let resp = net.nodes[b].ep.poll_transmit().expect("answered");
    let m = Message::parse(&resp.bytes).unwrap();
    let n = m.notifies().next().unwrap();
    assert_eq!(n.ty, NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
    assert_eq!(n.data, vec![200]);
    assert_eq!(m.header.spi_i, 0xaabb_ccdd_0011_2233);
    assert!(net.nodes[b].ep.ike_sas().is_empty());
}

#[test]
fn plain_ikev2_peer_without_vendor_id_gets_a_childless_ike_sa() {
    // B behaves like strongSwan: no nvesec Vendor ID, CHILDLESS_IKEV2_SUPPORTED announced.
    let mut net = Net::new();
    let a = net.add(
        "a",
        A_ADDR,
        engine(vec![psk_conn(
            "to-b",
            "a.nve",
            "b.nve",
            B_ADDR,
            b"k",
            Some((1, 9)),
        )]),
        1,
    );
    let mut bcfg = engine(vec![psk_conn(
        "to-a",
        "b.nve",
        "a.nve",
        A_ADDR,
        b"k",
        Some((1, 9)),
    )]);
    bcfg.announce_gsa = false;
    let b = net.add("b", B_ADDR, bcfg, 2);
    let now = net.now;
    net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(2), 100);
    assert_eq!(
        payload_types(&net.captured[1].bytes, None),
        vec![P::SA, P::KE, P::NONCE, P::NOTIFY, P::NOTIFY, P::NOTIFY]
    );
    // IKE_AUTH without SA/TSi/TSr (RFC 6023).
    assert_eq!(
        payload_types(&net.captured[2].bytes, Some(net.sa(b))),
        vec![P::SK, P::IDI, P::NOTIFY, P::AUTH]
    );
    for n in [a, b] {
        assert_eq!(event_kinds(&net.nodes[n].events), vec!["IkeSaUp"]);
        assert!(net.nodes[n].events.iter().any(|e| matches!(
            e,
            Event::IkeSaUp {
                gsa_capable: false,
                ..
            }
        )));
    }
    let id = net.sa_id(a);
    let now = net.now;
    assert_eq!(
        net.nodes[a].ep.create_gsa(now, id, "geneve"),
        Err(nvesec_ikev2::endpoint::CommandError::PeerNotGsaCapable)
    );
}

#[test]
fn terminate_drops_a_connecting_sa_and_deletes_an_established_one() {
    let (mut net, a, b) = standard();
    net.unreachable.push(b);
    let now = net.now;
    let id = net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(1), 100);
    net.nodes[a].ep.terminate(net.now, id).unwrap();
    net.pump();
    assert!(net.nodes[a].ep.ike_sas().is_empty());
    assert_eq!(
        net.nodes[a].ep.poll_timeout(),
        None,
        "no retransmission left"
    );
    assert!(net.nodes[a].events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: nvesec_ikev2::sa::events::DownReason::DeletedLocally,
            ..
        }
    )));
    // Established: an INFORMATIONAL Delete both sides see.
    net.unreachable.clear();
    let now = net.now;
    let id = net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(1), 100);
    assert_eq!(net.count_up(b), 1);
    let before = net.captured.len();
    let now = net.now;
    net.nodes[a].ep.terminate(now, id).unwrap();
    net.drive_for(Duration::from_secs(1), 100);
    assert_eq!(net.captured.len(), before + 2);
    assert!(net.nodes[b].ep.ike_sas().is_empty());
}
