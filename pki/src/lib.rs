//! Key and certificate handling shared by `nvesec-pki` and `nvesecd`, so both
//! accept and reject exactly the same certificates.
#![forbid(unsafe_code)]
