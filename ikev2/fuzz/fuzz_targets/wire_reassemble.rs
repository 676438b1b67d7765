//! Any sequence of fragments through the RFC 7383 reassembler; memory stays under its cap
//! (see `nvesec_ikev2::wire::fuzz_reassemble`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nvesec_ikev2::wire::fuzz_reassemble(data);
});
