//! Every PEM/DER loader of nvesec-pki must return an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nvesec_pki::fuzz::parse_any(data);
});
