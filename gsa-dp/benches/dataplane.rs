//! Criterion benches: GEO seal/open per packet size and backend, GAO, GSP lookup against the
//! linear scan, replay-window check.
//!
//! `cargo bench -p nvesec-gsa-dp -- --warm-up-time 1 --measurement-time 3`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nvesec_gsa_dp::aead::{Backend, Gcm, GcmCipher};
use nvesec_gsa_dp::fuzzing::{self, coverage_from};
use nvesec_gsa_dp::gsa::{Algorithm, Coverage};
use nvesec_gsa_dp::gsp::{Action, Direction, GspTable, PacketFields, Policy, Sel, Selectors};
use nvesec_gsa_dp::replay::ReplayWindow;
use nvesec_gsa_dp::wire::inner::InnerInfo;
use nvesec_gsa_dp::{InVerdict, OutVerdict};
use std::time::Instant;

const SIZES: [usize; 4] = [64, 512, 1400, 8900];

fn seal_open(c: &mut Criterion) {
    for (alg, name) in [
        (Algorithm::AesGcm128, "geo-aes128gcm"),
        (Algorithm::AesGcm256, "geo-aes256gcm"),
        (Algorithm::AesGmac128, "gao-gmac128"),
    ] {
        for backend in [Backend::Ring, Backend::RustCrypto] {
            let mut g = c.benchmark_group(format!("{name}/{backend:?}"));
            for size in SIZES {
                let now = Instant::now();
                let frame = vec![0x45u8; size];
                let (mut tx, mut rx) =
                    fuzzing::pair(alg, Coverage::default(), backend, backend, now);
                let mut out = vec![0u8; size + 128];
                g.throughput(Throughput::Bytes(size as u64));
                g.bench_with_input(BenchmarkId::new("seal", size), &size, |b, _| {
                    b.iter(|| {
                        let v = tx.outbound(now, 42, 0x0800, black_box(&frame), &mut out);
                        assert!(matches!(v, OutVerdict::Send { .. }));
                    })
                });
                // Open: a stream of fresh packets (replay-checked), prepared ahead in batches.
                let mut batch: Vec<Vec<u8>> = Vec::new();
                g.bench_with_input(BenchmarkId::new("open", size), &size, |b, _| {
                    b.iter_batched_ref(
                        || {
                            if batch.is_empty() {
                                for _ in 0..256 {
                                    let OutVerdict::Send { len } =
                                        tx.outbound(now, 42, 0x0800, &frame, &mut out)
                                    else {
                                        panic!()
                                    };
                                    batch.push(out[..len].to_vec());
                                }
                                batch.reverse();
                            }
                            batch.pop().unwrap()
                        },
                        |pkt| {
                            let v = rx.inbound(now, pkt);
                            assert!(matches!(v, InVerdict::Deliver { .. }), "{v:?}");
                        },
                        criterion::BatchSize::SmallInput,
                    )
                });
            }
            g.finish();
        }
    }
    // One coverage variant on the hot size, to see the cost of padding + hidden header.
    let now = Instant::now();
    let cov = coverage_from(Algorithm::AesGcm128, 0xa0, 15);
    let (mut tx, _) = fuzzing::pair(Algorithm::AesGcm128, cov, Backend::Ring, Backend::Ring, now);
    let frame = vec![0x45u8; 1400];
    let mut out = vec![0u8; 2000];
    c.bench_function("geo-aes128gcm/Ring/seal-padded-hidden/1400", |b| {
        b.iter(|| tx.outbound(now, 42, 0x0800, black_box(&frame), &mut out))
    });
}

/// The bare cipher on the hot size, so the engine's own per-packet cost (headers, lookups,
/// replay, counters) shows as the difference from `geo-aes128gcm/<backend>/seal/1400`.
fn raw_aead(c: &mut Criterion) {
    let key = zeroize::Zeroizing::new(vec![7u8; 16]);
    let nonce = [1u8; 12];
    let aad = [0u8; 16];
    let mut g = c.benchmark_group("aead-raw-aes128gcm");
    for backend in [Backend::Ring, Backend::RustCrypto] {
        let gcm = Gcm::new(backend, &key).unwrap();
        let mut buf = vec![0x45u8; 1400];
        g.throughput(Throughput::Bytes(1400));
        g.bench_function(BenchmarkId::new(format!("{backend:?}/seal"), 1400), |b| {
            b.iter(|| gcm.seal(&nonce, &aad, black_box(&mut buf)))
        });
    }
    g.finish();
}

fn policies(n: u32) -> Vec<Policy> {
    (0..n)
        .map(|i| Policy {
            id: i,
            dir: Direction::Out,
            selectors: Selectors {
                vni: Sel::value(i),
                dst_port: Sel::value(443),
                ..Default::default()
            },
            action: Action::Bypass,
        })
        .collect()
}

fn gsp_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("gsp-lookup");
    for n in [10u32, 1_000, 10_000] {
        let t = GspTable::new(policies(n));
        let info = InnerInfo {
            ip_proto: Some(6),
            dst_port: Some(443),
            ..Default::default()
        };
        let f = PacketFields {
            vni: n - 1,
            protocol_type: 0x0800,
            inner: info,
            ..Default::default()
        };
        assert_eq!(t.lookup(&f).map(|p| p.id), Some(n - 1));
        g.bench_with_input(BenchmarkId::new("indexed", n), &n, |b, _| {
            b.iter(|| t.lookup(black_box(&f)).map(|p| p.id))
        });
        g.bench_with_input(BenchmarkId::new("linear", n), &n, |b, _| {
            b.iter(|| t.lookup_linear(black_box(&f)).map(|p| p.id))
        });
    }
    g.finish();
}

fn replay(c: &mut Criterion) {
    let mut w = ReplayWindow::new(1024);
    let mut s = 1u64;
    c.bench_function("replay/check+update in order", |b| {
        b.iter(|| {
            let seq = w.infer(s as u32).unwrap();
            w.check(seq).unwrap();
            w.update(seq).unwrap();
            s += 1;
        })
    });
}

criterion_group!(benches, seal_open, raw_aead, gsp_lookup, replay);
criterion_main!(benches);
