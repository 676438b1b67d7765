//! Property tests: the loaders never panic on arbitrary or mutated input
//! (the same entry point as the cargo-fuzz target), and names round-trip.

use nvesec_pki::fuzz::parse_any;
use nvesec_pki::{CertProfile, Dn, KeyType, PrivateKey, SubjectAltName};
use proptest::prelude::*;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

/// Valid samples of every input kind, PEM and DER, to mutate.
fn samples() -> &'static Vec<Vec<u8>> {
    static S: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    S.get_or_init(|| {
        let now = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let ca = nvesec_pki::self_sign(&key, &CertProfile::ca(Dn::parse("CN=ca").unwrap()), now)
            .unwrap();
        let csr = nvesec_pki::Csr::create(&key, &Dn::parse("CN=nve").unwrap(), &[]).unwrap();
        let crl = nvesec_pki::sign_crl(&ca, &key, &[], 15, 1, now).unwrap();
        vec![
            key.to_pem().as_bytes().to_vec(),
            key.to_pkcs8_der().to_vec(),
            ca.to_pem().into_bytes(),
            ca.der().to_vec(),
            csr.to_pem().into_bytes(),
            csr.der().to_vec(),
            crl.to_pem().into_bytes(),
            crl.der().to_vec(),
            key.public_key().to_pem().into_bytes(),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        parse_any(&data);
    }

    #[test]
    fn mutated_credentials_never_panic(
        which in 0usize..9,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut data = samples()[which].clone();
        for (i, b) in edits {
            let at = i.index(data.len());
            data[at] = b;
        }
        parse_any(&data);
        parse_any(&data[..cut.index(data.len() + 1)]);
    }

    #[test]
    fn dn_display_parse_round_trip(
        parts in proptest::collection::vec((prop::sample::select(vec!["C", "O", "OU", "CN", "L", "ST"]), "[a-zA-Z0-9 .-]{1,12}"), 1..5)
    ) {
        let text = parts.iter().map(|(k, v)| format!("{k}={}", v.trim())).collect::<Vec<_>>().join(", ");
        prop_assume!(parts.iter().all(|(_, v)| !v.trim().is_empty()));
        let dn = Dn::parse(&text).unwrap();
        prop_assert_eq!(dn.to_string(), text.clone());
        prop_assert_eq!(Dn::parse(&dn.to_string()).unwrap(), dn);
    }

    #[test]
    fn san_display_parse_round_trip(host in "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}", ip in any::<std::net::IpAddr>()) {
        for san in [SubjectAltName::Dns(host.clone()), SubjectAltName::Ip(ip), SubjectAltName::Email(format!("ops@{host}"))] {
            prop_assert_eq!(SubjectAltName::parse(&san.to_string()).unwrap(), san);
        }
    }
}
