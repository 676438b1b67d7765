//! The engine never panics on arbitrary, mutated, truncated or replayed datagrams, in any
//! state (handshake done, then hostile input to both sides). Shares
//! `endpoint::fuzz_engine` with the cargo-fuzz target.

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn engine_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        nvesec_ikev2::endpoint::fuzz_engine(&data);
    }
}

#[test]
fn replaying_every_captured_message_changes_nothing_visible() {
    // op 1 = replay captured[op % n] unchanged, to B then (0x40) to A.
    let replays: Vec<u8> = (0..8u8)
        .flat_map(|i| [1 + 3 * i, 0, 0x41 + 3 * i, 0])
        .collect();
    // Replays of requests are answered from the cache; nothing panics.
    let emitted = nvesec_ikev2::endpoint::fuzz_engine(&replays);
    assert!(emitted > 0, "cached responses were re-sent");
}
