//! Criterion benches for the tun offload code: userspace TSO (a 64,000-byte TCP super-packet cut
//! into 1448-byte segments, checksums included) and coalescing those segments back; and two
//! workers sealing super-packets through one engine, under its lock or prepared and sealed
//! outside it; two workers opening the trains those super-packets make, under the lock or
//! with the AEAD outside it.
//!
//! `cargo bench -p nvesec-gsa-dp --bench offload -- --warm-up-time 1 --measurement-time 3`

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use nvesec_gsa_dp::aead::Backend;
use nvesec_gsa_dp::fuzzing;
use nvesec_gsa_dp::gsa::{Algorithm, Coverage};
use nvesec_gsa_dp::offload::{self, Coalescer, Offer, VnetHdr, F_NEEDS_CSUM, GSO_TCPV4};
use nvesec_gsa_dp::wire::inner;
use nvesec_gsa_dp::{Dataplane, OutVerdict};
use std::sync::Mutex;
use std::time::Instant;

const PAYLOAD: usize = 64_000;
const MSS: u16 = 1448;

/// IPv4 + TCP (20 + 20 bytes) super-packet with PAYLOAD bytes, as a tun with TSO reads it.
fn super_packet() -> (VnetHdr, Vec<u8>) {
    let total = 40 + PAYLOAD;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[6] = 0x40;
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&[172, 16, 0, 1]);
    p[16..20].copy_from_slice(&[172, 16, 0, 2]);
    p[20..22].copy_from_slice(&40000u16.to_be_bytes());
    p[22..24].copy_from_slice(&5201u16.to_be_bytes());
    p[32] = 5 << 4;
    p[33] = 0x10; // ACK
    p[34..36].copy_from_slice(&502u16.to_be_bytes());
    for (i, b) in p[40..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: GSO_TCPV4,
        hdr_len: 40,
        gso_size: MSS,
        csum_start: 20,
        csum_offset: 16,
    };
    (hdr, p)
}

fn tso(c: &mut Criterion) {
    let (hdr, mut pkt) = super_packet();
    let mut scratch = [0u8; offload::SEGMENT_SCRATCH];
    let mut segs: Vec<Vec<u8>> = Vec::new();
    offload::segment(&hdr, &mut pkt, &mut scratch, &mut |h, b| {
        segs.push([h, b].concat())
    })
    .unwrap();
    let mut g = c.benchmark_group("offload");
    g.throughput(Throughput::Bytes(PAYLOAD as u64));
    g.bench_function("segment 64000 B / 1448", |b| {
        b.iter(|| {
            let mut n = 0usize;
            offload::segment(&hdr, &mut pkt, &mut scratch, &mut |h, b| {
                n += h.len() + b.len()
            })
            .unwrap();
            black_box(n)
        })
    });
    // The segments back to back in one buffer, as the daemon's receive buffer holds them.
    let rx: Vec<u8> = segs.concat();
    let mut ranges = Vec::new();
    let mut at = 0;
    for s in &segs {
        ranges.push(at..at + s.len());
        at += s.len();
    }
    let mut co = Coalescer::new();
    for (name, authenticated) in [
        ("coalesce 45 segments", false),
        ("coalesce 45 authenticated segments", true),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                for r in &ranges {
                    let o = co.offer(black_box(&rx), r.clone(), authenticated);
                    debug_assert_eq!(o, Offer::Held);
                }
                black_box(co.take(&rx).map(|iov| iov.len()))
            })
        });
    }
    g.finish();
}

/// Super-packets each worker seals per iteration.
const PER_WORKER: usize = 16;

/// One worker's share: `PER_WORKER` super-packets segmented and sealed, either each segment
/// through the engine under its lock, or one preparation under the lock and the sealing
/// outside it (what the daemon does).
fn worker(dp: &Mutex<Dataplane>, now: Instant, hdr: &VnetHdr, pkt: &[u8], prepared: bool) {
    let mut pkt = pkt.to_vec();
    let mut scratch = [0u8; offload::SEGMENT_SCRATCH];
    let (mut out, mut aad) = (vec![0u8; 2048], Vec::new());
    for _ in 0..PER_WORKER {
        if prepared {
            let info = inner::parse(0x0800, &pkt);
            let (n, bytes, _) = offload::segment_count(hdr, &pkt).unwrap();
            let mut p = dp
                .lock()
                .unwrap()
                .prepare_segments(now, None, 42, 0x0800, info, n, bytes)
                .unwrap();
            offload::segment(hdr, &mut pkt, &mut scratch, &mut |h, b| {
                black_box(p.emit(h, b, &mut out, &mut aad).unwrap());
            })
            .unwrap();
        } else {
            let mut g = dp.lock().unwrap();
            offload::segment(hdr, &mut pkt, &mut scratch, &mut |h, b| {
                black_box(g.outbound_to_parts(now, None, 42, 0x0800, h, b, &mut out));
            })
            .unwrap();
        }
    }
}

fn workers(c: &mut Criterion) {
    let (hdr, pkt) = super_packet();
    let now = Instant::now();
    let (tx, _) = fuzzing::pair(
        Algorithm::AesGcm128,
        Coverage::default(),
        Backend::Ring,
        Backend::Ring,
        now,
    );
    let dp = Mutex::new(tx);
    let mut g = c.benchmark_group("two workers, GEO, 64000 B super-packets");
    g.throughput(Throughput::Bytes((2 * PER_WORKER * PAYLOAD) as u64));
    for (name, prepared) in [
        ("sealed under the engine lock", false),
        ("prepared under the lock, sealed outside", true),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                std::thread::scope(|s| {
                    for _ in 0..2 {
                        s.spawn(|| worker(&dp, now, &hdr, &pkt, prepared));
                    }
                })
            })
        });
    }
    g.finish();
}

/// One worker's share of received trains (one per super-packet), opened as the daemon opens a
/// train: under one lock each, or begun under one lock, opened without it, finished under a
/// second.
fn opener(dp: &Mutex<Dataplane>, now: Instant, trains: &mut [Vec<Vec<u8>>], staged: bool) {
    let mut aad = Vec::new();
    for train in trains {
        if staged {
            let mut g = dp.lock().unwrap();
            let started: Vec<_> = train
                .iter_mut()
                .map(|p| g.inbound_begin(p).unwrap())
                .collect();
            drop(g);
            let opened: Vec<_> = started
                .into_iter()
                .zip(train.iter_mut())
                .map(|(s, p)| s.open(p, &mut aad))
                .collect();
            let mut g = dp.lock().unwrap();
            for (o, p) in opened.into_iter().zip(train.iter_mut()) {
                black_box(g.inbound_finish(now, p, o));
            }
        } else {
            let mut g = dp.lock().unwrap();
            for p in train.iter_mut() {
                black_box(g.inbound(now, p));
            }
        }
    }
}

fn openers(c: &mut Criterion) {
    let (hdr, mut pkt) = super_packet();
    let now = Instant::now();
    let pair = || {
        fuzzing::pair(
            Algorithm::AesGcm128,
            Coverage::default(),
            Backend::Ring,
            Backend::Ring,
            now,
        )
    };
    let (mut tx, _) = pair();
    let mut scratch = [0u8; offload::SEGMENT_SCRATCH];
    let mut out = vec![0u8; 2048];
    let trains: Vec<Vec<Vec<u8>>> = (0..2 * PER_WORKER)
        .map(|_| {
            let mut train = Vec::new();
            offload::segment(&hdr, &mut pkt, &mut scratch, &mut |h, b| {
                let v = tx.outbound_to_parts(now, None, 42, 0x0800, h, b, &mut out);
                let OutVerdict::Send { len } = v else {
                    panic!("{v:?}")
                };
                train.push(out[..len].to_vec());
            })
            .unwrap();
            train
        })
        .collect();
    let mut g = c.benchmark_group("two workers opening GEO trains of 64000 B");
    g.throughput(Throughput::Bytes((2 * PER_WORKER * PAYLOAD) as u64));
    for (name, staged) in [
        ("opened under the engine lock", false),
        ("begun under the lock, opened outside", true),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                // A fresh receiver each time: the packets would be replays the second time.
                || (Mutex::new(pair().1), trains.clone()),
                |(rx, mut trains)| {
                    std::thread::scope(|s| {
                        for half in trains.chunks_mut(PER_WORKER) {
                            let rx = &rx;
                            s.spawn(move || opener(rx, now, half, staged));
                        }
                    })
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, tso, workers, openers);
criterion_main!(benches);
