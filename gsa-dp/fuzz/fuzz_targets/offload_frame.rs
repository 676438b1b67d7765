#![no_main]
use libfuzzer_sys::fuzz_target;

// A tun frame with a virtio_net_hdr: parse, segment (userspace TSO), coalesce back (GRO).
fuzz_target!(|data: &[u8]| {
    nvesec_gsa_dp::offload::fuzz_frame(data);
});
