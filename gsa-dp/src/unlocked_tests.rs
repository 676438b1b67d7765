//! The AEAD outside the engine (and so outside the daemon's engine lock). Outbound: segments
//! of a super-packet prepared once and sealed without the engine ([`Dataplane::prepare_segments`],
//! [`Prepared::emit`]) are the packets, and the accounting, of sealing each segment through
//! [`Dataplane::outbound_to_parts`]. Inbound: [`Dataplane::inbound`] is itself
//! [`Dataplane::inbound_begin`], [`InboundStart::open`] and [`Dataplane::inbound_finish`], so
//! every engine test covers the stages; these tests cover what may happen between them.

use super::tests::{gsa, pair, secure};
use super::*;
use crate::gsa::{Algorithm, Coverage, Padding};
use crate::gsp::Selectors;
use crate::lifetime::{LifetimeConfig, Limits};
use crate::offload::tests::{super_packet, udp_super_packet};
use crate::offload::{self, VnetHdr, SEGMENT_SCRATCH, VNET_HDR_LEN};
use std::sync::Mutex;

const ACK: u8 = 0x10;

/// Every segment of `frame` (vnet header first) through `emit(head, body)`.
fn each_segment(frame: &[u8], emit: &mut dyn FnMut(&[u8], &[u8])) {
    let (h, _) = VnetHdr::parse(frame).unwrap();
    let mut pkt = frame[VNET_HDR_LEN..].to_vec();
    let mut scratch = [0u8; SEGMENT_SCRATCH];
    offload::segment(&h, &mut pkt, &mut scratch, emit).unwrap();
}

fn ptype_of(frame: &[u8]) -> u16 {
    match frame[VNET_HDR_LEN] >> 4 {
        6 => 0x86dd,
        _ => 0x0800,
    }
}

/// What the daemon does under the lock: count the segments, prepare them.
fn prepare(dp: &mut Dataplane, now: Instant, frame: &[u8]) -> Option<Prepared> {
    let (h, _) = VnetHdr::parse(frame).unwrap();
    let pkt = &frame[VNET_HDR_LEN..];
    let ptype = ptype_of(frame);
    let (n, bytes, headers_len) = offload::segment_count(&h, pkt)?;
    let info = inner::parse(ptype, pkt);
    assert_eq!(info.headers_len, Some(headers_len));
    dp.prepare_segments(now, None, 42, ptype, info, n, bytes)
}

fn one_by_one(dp: &mut Dataplane, now: Instant, frame: &[u8]) -> Vec<Vec<u8>> {
    let ptype = ptype_of(frame);
    let mut sent = Vec::new();
    each_segment(frame, &mut |head, body| {
        let mut out = vec![0u8; 2048];
        match dp.outbound_to_parts(now, None, 42, ptype, head, body, &mut out) {
            OutVerdict::Send { len } => sent.push(out[..len].to_vec()),
            v => panic!("segment not sent: {v:?}"),
        }
    });
    sent
}

fn emitted(p: &mut Prepared, frame: &[u8]) -> Vec<Vec<u8>> {
    let mut aad = Vec::new();
    let mut sent = Vec::new();
    each_segment(frame, &mut |head, body| {
        let mut out = vec![0u8; 2048];
        let len = p
            .emit(head, body, &mut out, &mut aad)
            .expect("a prepared segment");
        sent.push(out[..len].to_vec());
    });
    sent
}

fn frames() -> Vec<Vec<u8>> {
    let data: Vec<u8> = (0..64_000u32).map(|i| (i * 7) as u8).collect();
    let mut f = Vec::new();
    for v6 in [false, true] {
        f.push(super_packet(v6, &data[..1], 1448, ACK, &[]));
        f.push(super_packet(v6, &data[..5_000], 1000, ACK, &[]));
        f.push(super_packet(
            v6,
            &data,
            1448,
            ACK | 0x08,
            &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
        ));
        f.push(udp_super_packet(v6, &data[..4_000], 1200));
    }
    f
}

/// The outbound policy of [`pair`]: one GEO of reqid 1.
fn one_geo() -> Vec<Policy> {
    let geo = Template {
        reqid: 1,
        kind: GsoKind::Geo,
    };
    vec![secure(Direction::Out, vec![geo])]
}

fn out_counters(dp: &Dataplane) -> (u64, u64, u64) {
    let g = dp.gsas().outbound(1).expect("the outbound GSA");
    (g.counters.packets, g.counters.bytes, g.sn_high_water())
}

#[test]
fn prepared_segments_are_the_packets_sealed_one_by_one() {
    let coverages = [
        Coverage::default(),
        Coverage {
            payload: PayloadCoverage::First(30),
            ..Default::default()
        },
        Coverage {
            payload: PayloadCoverage::AfterInnerHeaders,
            ..Default::default()
        },
        Coverage {
            padding: Padding::Multiple(16),
            hidden_header: true,
            ..Default::default()
        },
    ];
    for cov in coverages {
        let (mut one, _, now) = pair(Algorithm::AesGcm128, cov.clone());
        let (mut two, mut rx, _) = pair(Algorithm::AesGcm128, cov.clone());
        for frame in frames() {
            let want = one_by_one(&mut one, now, &frame);
            let mut p = prepare(&mut two, now, &frame).expect("one GEO with room: prepared");
            let got = emitted(&mut p, &frame);
            assert_eq!(got, want, "{cov:?}");
            for pkt in &got {
                let mut pkt = pkt.clone();
                let v = rx.inbound(now, &mut pkt);
                assert!(matches!(v, InVerdict::Deliver { .. }), "{cov:?}: {v:?}");
            }
            assert_eq!(out_counters(&two), out_counters(&one), "{cov:?}");
            assert_eq!(two.stats().sent_secured, one.stats().sent_secured);
        }
    }
}

#[test]
fn bypass_segments_are_prepared_too() {
    let now = Instant::now();
    let bypass = || {
        let mut dp = Dataplane::new(DataplaneConfig::default());
        dp.set_gsp(vec![Policy {
            id: 1,
            dir: Direction::Out,
            selectors: Selectors::default(),
            action: Action::Bypass,
        }])
        .unwrap();
        dp
    };
    let (mut one, mut two) = (bypass(), bypass());
    for frame in frames() {
        let want = one_by_one(&mut one, now, &frame);
        let mut p = prepare(&mut two, now, &frame).expect("BYPASS: prepared");
        assert_eq!(emitted(&mut p, &frame), want);
        assert_eq!(two.stats().sent_bypass, one.stats().sent_bypass);
    }
}

#[test]
fn what_is_not_one_geo_with_room_goes_segment_by_segment() {
    let frame = super_packet(false, &[5; 3000], 1000, ACK, &[]);
    // GAO.
    let (mut dp, _, now) = pair(Algorithm::AesGmac128, Coverage::default());
    assert!(prepare(&mut dp, now, &frame).is_none());
    // No GSA yet: ACQUIRE and the hold queue are the per-segment path's; nothing raised here.
    let mut dp = Dataplane::new(DataplaneConfig::default());
    dp.set_gsp(one_geo()).unwrap();
    assert!(prepare(&mut dp, now, &frame).is_none());
    assert_eq!((dp.stats().acquires, dp.held()), (0, 0));
    // No policy: DISCARD, counted per segment by the per-segment path.
    let mut dp = Dataplane::new(DataplaneConfig::default());
    assert!(prepare(&mut dp, now, &frame).is_none());
    // GEO followed by a GAO.
    let (mut dp, _, _) = pair(Algorithm::AesGcm128, Coverage::default());
    let mut gao = gsa(Direction::Out, Algorithm::AesGmac128, Coverage::default());
    gao.reqid = 2;
    gao.gsa_id = 0x2002;
    dp.add_gsa(now, gao).unwrap();
    let both = vec![
        Template {
            reqid: 1,
            kind: GsoKind::Geo,
        },
        Template {
            reqid: 2,
            kind: GsoKind::Gao,
        },
    ];
    dp.set_gsp(vec![secure(Direction::Out, both)]).unwrap();
    assert!(prepare(&mut dp, now, &frame).is_none());
}

#[test]
fn a_batch_never_crosses_a_hard_limit_and_raises_a_soft_one_once() {
    let frame = super_packet(false, &[5; 3000], 1000, ACK, &[]); // 3 segments
    let (mut dp, _, now) = pair(Algorithm::AesGcm128, Coverage::default());
    let mut cfg = gsa(Direction::Out, Algorithm::AesGcm128, Coverage::default());
    cfg.lifetime = LifetimeConfig {
        soft: Limits {
            packets: Some(4),
            ..Default::default()
        },
        hard: Limits {
            packets: Some(7),
            ..Default::default()
        },
    };
    dp.flush();
    dp.set_gsp(one_geo()).unwrap();
    dp.add_gsa(now, cfg).unwrap();
    // 3 packets: below both limits.
    let mut p = prepare(&mut dp, now, &frame).unwrap();
    assert_eq!(emitted(&mut p, &frame).len(), 3);
    assert_eq!(dp.poll_event(), None);
    // 6: past the soft limit, once.
    let mut p = prepare(&mut dp, now, &frame).unwrap();
    assert_eq!(emitted(&mut p, &frame).len(), 3);
    assert!(matches!(
        dp.poll_event(),
        Some(Event::Expire {
            kind: ExpireKind::Soft,
            ..
        })
    ));
    assert_eq!(dp.poll_event(), None);
    // 9 would reach the hard limit inside the batch: not prepared, nothing reserved.
    assert!(prepare(&mut dp, now, &frame).is_none());
    assert_eq!(out_counters(&dp), (6, 2 * (3000 + 3 * 40), 6));
    // Segment by segment, the 7th packet is the last the GSA seals.
    let mut out = vec![0u8; 2048];
    let mut verdicts = Vec::new();
    each_segment(&frame, &mut |head, body| {
        verdicts.push(dp.outbound_to_parts(now, None, 42, 0x0800, head, body, &mut out));
    });
    assert!(matches!(verdicts[0], OutVerdict::Send { .. }));
    assert!(verdicts[1..].iter().all(|v| *v == OutVerdict::Queued));
}

#[test]
fn emit_refuses_what_was_not_prepared() {
    let frame = super_packet(true, &[5; 2000], 1000, ACK, &[]); // 2 segments
    let (mut dp, _, now) = pair(Algorithm::AesGcm128, Coverage::default());
    let mut p = prepare(&mut dp, now, &frame).unwrap();
    let mut heads = Vec::new();
    each_segment(&frame, &mut |head, body| {
        heads.push((head.to_vec(), body.to_vec()))
    });
    let (mut out, mut aad) = (vec![0u8; 2048], Vec::new());
    // A head that is not the prepared headers' length.
    let (h, b) = &heads[0];
    assert_eq!(p.emit(&h[..h.len() - 4], b, &mut out, &mut aad), None);
    for (h, b) in &heads {
        assert!(p.emit(h, b, &mut out, &mut aad).is_some());
    }
    // A third segment: no SN was reserved for it.
    assert_eq!(p.emit(&heads[1].0, &heads[1].1, &mut out, &mut aad), None);
    // A buffer too small for the packet.
    let mut p = prepare(&mut dp, now, &frame).unwrap();
    assert_eq!(
        p.emit(&heads[0].0, &heads[0].1, &mut out[..100], &mut aad),
        None
    );
}

/// Two threads prepare under one engine lock and seal outside it: every packet gets its own
/// SN (the receiver's replay window would drop a second use) and opens.
#[test]
fn threads_seal_outside_the_lock_with_distinct_sequence_numbers() {
    let (dp, mut rx, now) = pair(Algorithm::AesGcm128, Coverage::default());
    let dp = Mutex::new(dp);
    let frame = super_packet(false, &[9; 5000], 1000, ACK, &[]); // 5 segments
    let sent: Vec<Vec<u8>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut sent = Vec::new();
                    for _ in 0..40 {
                        let mut p = prepare(&mut dp.lock().unwrap(), now, &frame).unwrap();
                        sent.extend(emitted(&mut p, &frame));
                    }
                    sent
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert_eq!(sent.len(), 400);
    for mut pkt in sent {
        let v = rx.inbound(now, &mut pkt);
        assert!(matches!(v, InVerdict::Deliver { .. }), "{v:?}");
    }
    assert_eq!(out_counters(&dp.lock().unwrap()).2, 400);
}

/// Sealed GEO packets of `frame` from a fresh pair, and the receiving engine.
fn sealed_for_receiver(n: usize) -> (Vec<Vec<u8>>, Dataplane, Instant) {
    let (mut tx, rx, now) = pair(Algorithm::AesGcm128, Coverage::default());
    let frame = super_packet(false, &vec![3; 1000 * n], 1000, ACK, &[]);
    (one_by_one(&mut tx, now, &frame), rx, now)
}

/// Begin, open (with the engine free) and finish one packet.
fn staged(rx: &mut Dataplane, now: Instant, pkt: &mut [u8]) -> InVerdict {
    let started = match rx.inbound_begin(pkt) {
        Ok(s) => s,
        Err(v) => return v,
    };
    let opened = started.open(pkt, &mut Vec::new());
    rx.inbound_finish(now, pkt, opened)
}

/// Two copies of a packet can both pass the replay pre-check before either is opened (two
/// workers): the window update after authentication lets exactly one through.
#[test]
fn a_copy_opened_meanwhile_is_a_replay() {
    let (pkts, mut rx, now) = sealed_for_receiver(1);
    let (mut a, mut b) = (pkts[0].clone(), pkts[0].clone());
    let sa = rx.inbound_begin(&mut a).unwrap();
    let sb = rx.inbound_begin(&mut b).unwrap();
    let (oa, ob) = (
        sa.open(&mut a, &mut Vec::new()),
        sb.open(&mut b, &mut Vec::new()),
    );
    assert!(matches!(
        rx.inbound_finish(now, &mut a, oa),
        InVerdict::Deliver { .. }
    ));
    assert_eq!(
        rx.inbound_finish(now, &mut b, ob),
        InVerdict::Drop(DropReason::Replay)
    );
    assert_eq!(rx.stats().drops.get(DropReason::Replay), 1);
    assert_eq!(rx.stats().delivered_secured, 1);
}

/// A GSA deleted, or replaced under the same ID, while a packet was being opened: the packet
/// is not delivered, and the new GSA's window is untouched.
#[test]
fn a_gsa_gone_while_opening_drops_the_packet() {
    let (pkts, mut rx, now) = sealed_for_receiver(2);
    let key = GsaKey::inbound(super::tests::ID, 1);
    let mut p = pkts[0].clone();
    let s = rx.inbound_begin(&mut p).unwrap();
    let o = s.open(&mut p, &mut Vec::new());
    rx.del_gsa(key).unwrap();
    assert_eq!(
        rx.inbound_finish(now, &mut p, o),
        InVerdict::Drop(DropReason::NoGsa)
    );
    rx.add_gsa(
        now,
        gsa(Direction::In, Algorithm::AesGcm128, Coverage::default()),
    )
    .unwrap();
    let mut p = pkts[1].clone();
    let s = rx.inbound_begin(&mut p).unwrap();
    let o = s.open(&mut p, &mut Vec::new());
    rx.del_gsa(key).unwrap();
    rx.add_gsa(
        now,
        gsa(Direction::In, Algorithm::AesGcm128, Coverage::default()),
    )
    .unwrap();
    assert_eq!(
        rx.inbound_finish(now, &mut p, o),
        InVerdict::Drop(DropReason::NoGsa)
    );
    assert_eq!(
        rx.gsas().inbound(super::tests::ID).unwrap().sn_high_water(),
        0
    );
    // The same packets through the replaced GSA, in one go: delivered.
    for pkt in &pkts {
        let mut pkt = pkt.clone();
        assert!(matches!(
            staged(&mut rx, now, &mut pkt),
            InVerdict::Deliver { .. }
        ));
    }
}

/// Every verdict is counted once, whichever stage gave it.
#[test]
fn staged_verdicts_are_counted_once() {
    let (pkts, mut rx, now) = sealed_for_receiver(1);
    let mut short = pkts[0][..5].to_vec();
    assert_eq!(
        staged(&mut rx, now, &mut short),
        InVerdict::Drop(DropReason::Malformed)
    );
    let mut bad = pkts[0].clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(
        staged(&mut rx, now, &mut bad),
        InVerdict::Drop(DropReason::BadIcv)
    );
    let d = &rx.stats().drops;
    assert_eq!(
        (d.get(DropReason::Malformed), d.get(DropReason::BadIcv)),
        (1, 1)
    );
}

/// Two threads open under one engine: begin and finish under its lock, the AEAD outside.
#[test]
fn threads_open_outside_the_lock() {
    let (pkts, rx, now) = sealed_for_receiver(200);
    let rx = Mutex::new(rx);
    std::thread::scope(|s| {
        for half in pkts.chunks(100) {
            let rx = &rx;
            s.spawn(move || {
                let mut aad = Vec::new();
                for pkt in half {
                    let mut pkt = pkt.clone();
                    let started = rx.lock().unwrap().inbound_begin(&mut pkt).unwrap();
                    let opened = started.open(&mut pkt, &mut aad);
                    let v = rx.lock().unwrap().inbound_finish(now, &mut pkt, opened);
                    assert!(matches!(v, InVerdict::Deliver { .. }), "{v:?}");
                }
            });
        }
    });
    let rx = rx.lock().unwrap();
    assert_eq!(rx.stats().delivered_secured, 200);
    assert_eq!(
        rx.gsas()
            .inbound(super::tests::ID)
            .unwrap()
            .counters
            .packets,
        200
    );
}
