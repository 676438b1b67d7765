//! Any bytes through every IKE message parser; whatever parses must re-encode and parse back
//! to the same value (see `nvesec_ikev2::wire::fuzz_parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nvesec_ikev2::wire::fuzz_parse(data);
});
