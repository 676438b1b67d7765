#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nvesec_gsa_dp::fuzzing::inbound_any(data);
});
