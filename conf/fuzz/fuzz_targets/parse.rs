//! Feeds arbitrary bytes to the configuration parser; panics only if a configuration that
//! loaded does not survive print -> parse unchanged (see `nvesec_conf::fuzz::parse_any`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nvesec_conf::fuzz::parse_any(data);
});
