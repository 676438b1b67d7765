//! Fuzz the control socket request parser (`cargo +nightly fuzz run ctl_request`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nvesec::ctl::proto::fuzz_parse(data);
});
