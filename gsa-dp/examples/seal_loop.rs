//! 20,000 GEO seal + open pairs of a 1400-byte frame through two engines, for instruction
//! counts that do not depend on how busy the machine is:
//!
//! `cargo build --release -p nvesec-gsa-dp --example seal_loop &&
//!  valgrind --tool=callgrind target/release/examples/seal_loop`
//!
//! (valgrind has no VAES, so ring takes its AES-NI code path under it.)

use nvesec_gsa_dp::aead::Backend;
use nvesec_gsa_dp::fuzzing;
use nvesec_gsa_dp::gsa::{Algorithm, Coverage};
use nvesec_gsa_dp::{InVerdict, OutVerdict};
use std::time::Instant;

const PAIRS: usize = 20_000;

fn main() {
    let now = Instant::now();
    let (mut tx, mut rx) = fuzzing::pair(
        Algorithm::AesGcm128,
        Coverage::default(),
        Backend::Ring,
        Backend::Ring,
        now,
    );
    let frame = vec![0x45u8; 1400];
    let mut out = vec![0u8; 1600];
    let mut delivered = 0;
    for _ in 0..PAIRS {
        let OutVerdict::Send { len } = tx.outbound(now, 42, 0x0800, &frame, &mut out) else {
            panic!("the engine did not seal");
        };
        if let InVerdict::Deliver { .. } = rx.inbound(now, &mut out[..len]) {
            delivered += 1;
        }
    }
    assert_eq!(delivered, PAIRS, "every sealed packet opens");
    println!("{delivered} pairs sealed and opened");
}
