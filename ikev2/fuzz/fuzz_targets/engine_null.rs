//! The whole IKE engine (initiator and responder: IKE_AUTH, CREATE_CHILD_SA, rekeys and
//! collisions, Deletes) under the INSECURE null suite, so mutations get past the ICV and AUTH
//! checks (see `nvesec_ikev2::fuzz_null::fuzz_engine_null`; needs the `fuzzing` feature).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nvesec_ikev2::fuzz_null::fuzz_engine_null(data);
});
