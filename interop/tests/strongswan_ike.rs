//! Interop of the ikev2 engine (through the `ike-driver` binary) with a real strongSwan 5.9
//! charon, each in its own network namespace: childless IKE SAs (RFC 6023) with PSK, Ed25519
//! and ECDSA P-256 certificates in both directions, the SK_* keys charon logs at level 4
//! compared with ours, IKE SA rekey and delete from each side, and cookies.
//!
//! Run as root: `cargo test -p nvesec-interop --test strongswan_ike -- --test-threads=1`.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use nvesec_ikev2::crypto::strongswan_log::{ike_key_sets, LoggedIkeKeys};
use nvesec_interop::ike_driver::{
    read_key_dumps, unhex, DriverAuth, DriverConfig, DriverConn, DriverProcess, DumpedKeys,
};
use nvesec_interop::strongswan::Charon;
use nvesec_interop::{link, require_root, Netns};
use nvesec_pki::{issue, self_sign, CertProfile, Dn, KeyType, PrivateKey, SubjectAltName};
use serde_json::Value;

const DRIVER: &str = env!("CARGO_BIN_EXE_ike-driver");
const NVE_IP: &str = "192.0.2.1";
const SS_IP: &str = "192.0.2.2";
const NVE_IP6: &str = "fd00:6e76::1";
const SS_IP6: &str = "fd00:6e76::2";
const NVE_ID: &str = "nve.example";
const SS_ID: &str = "ss.example";
const PSK: &str = "an interop pre-shared key of some length";
const SUITE: &str = "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519";
const WAIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Auth {
    Psk,
    Cert(KeyType),
}

/// One nvesec driver and one charon, linked by a veth pair. Field order is drop order:
/// processes first, then namespaces, then files.
struct Pair {
    driver: DriverProcess,
    charon: Charon,
    _ns: (Netns, Netns),
    dir: tempfile::TempDir,
    suite: &'static str,
    key_lens: [usize; 5],
    /// Identities as strongSwan shows them (nve, ss) and as our events show them (nve, ss).
    ids: (String, String, String, String),
    /// Underlay addresses (nve, ss).
    addrs: (&'static str, &'static str),
    /// What the driver was started with (to restart it).
    driver_cfg: DriverConfig,
}

struct Setup {
    auth: Auth,
    /// strongSwan's `childless` setting.
    ss_childless: &'static str,
    /// strongSwan's IKE `proposals`.
    ss_proposals: &'static str,
    /// Extra lines inside strongSwan's `connections.nve { }` (children, dpd_delay, ...).
    ss_conn_extra: &'static str,
    /// Extra lines inside charon's section of strongswan.conf (fragment_size, ...).
    charon_extra: &'static str,
    /// The driver's cookie threshold.
    cookie_threshold: Option<usize>,
    /// The driver's RFC 7383 fragment size.
    fragment_mtu: Option<usize>,
    /// The driver's half-open timeout.
    half_open_timeout_ms: Option<u64>,
    /// The driver's retransmission schedule (first interval, tries).
    retransmit: Option<(u64, u32)>,
    /// The driver's proposal and DPD delay.
    proposal: &'static str,
    dpd_delay_secs: Option<u64>,
    rekey_time_ms: Option<u64>,
    /// strongSwan's `rekey_time` (0 = never).
    ss_rekey_time: &'static str,
    /// Identities are the IP addresses (ID_IPV4_ADDR, strongSwan's default).
    ip_ids: bool,
    /// The driver gets a second connection `ss2`, a copy of `ss`.
    second_conn: bool,
    /// IPv6 underlay (fd00::1 = nvesec, fd00::2 = strongSwan).
    ipv6: bool,
    /// Both end entities are issued by intermediate CAs under the common root; each side
    /// trusts only the root and gets the other's intermediate in CERT payloads.
    intermediates: bool,
    /// The driver's PSK (strongSwan always has [`PSK`]).
    driver_psk: &'static str,
    /// Identities by certificate subject DN (ID_DER_ASN1_DN) instead of FQDNs.
    dn_ids: bool,
    /// strongSwan's certificate comes from a CA the driver does not trust.
    ss_untrusted: bool,
    /// Our certificate comes from a CA strongSwan does not trust.
    nve_untrusted: bool,
    /// What both ends must agree on (swanctl's notation) and the SK_d, SK_e*, SK_p* sizes.
    suite: &'static str,
    key_lens: [usize; 5],
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            auth: Auth::Psk,
            ss_childless: "allow",
            ss_proposals: "aes256gcm16-prfsha256-x25519",
            ss_conn_extra: "",
            charon_extra: "",
            cookie_threshold: None,
            fragment_mtu: None,
            half_open_timeout_ms: None,
            retransmit: None,
            proposal: "aes256gcm16-prfsha256-x25519",
            dpd_delay_secs: None,
            rekey_time_ms: None,
            ss_rekey_time: "0",
            ip_ids: false,
            second_conn: false,
            ipv6: false,
            intermediates: false,
            driver_psk: PSK,
            dn_ids: false,
            ss_untrusted: false,
            nve_untrusted: false,
            suite: SUITE,
            // AES-256-GCM + PRF_HMAC_SHA2_256: 32, 32+4, 32+4, 32, 32 (RFC 7296 §2.14, RFC 5282).
            key_lens: [32, 36, 36, 32, 32],
        }
    }
}

/// Credentials issued with nvesec_pki: a CA, a certificate for each end (SAN DNS = its FQDN).
struct Creds {
    ca: String,
    /// strongSwan's intermediate CA (its x509ca/ holds it, so it sends it along).
    ss_intermediate: Option<String>,
    nve_key: String,
    nve_cert: String,
    ss_key: String,
    ss_cert: String,
    /// DER of the subject Names, for ID_DER_ASN1_DN identities.
    nve_dn: Vec<u8>,
    ss_dn: Vec<u8>,
}

fn make_creds(kt: KeyType, s: &Setup) -> Creds {
    let now = SystemTime::now();
    let ca = |name: &str| {
        let key = PrivateKey::generate(kt).unwrap();
        let dn = Dn::parse(&format!("C=CH, O=nvesec, CN={name}")).unwrap();
        let cert = self_sign(&key, &CertProfile::ca(dn), now).unwrap();
        (key, cert)
    };
    let (ca_key, ca_cert) = ca("interop CA");
    let (rogue_key, rogue_cert) = ca("rogue CA");
    // Intermediates below the root: one for each end.
    let sub = |name: &str| {
        let key = PrivateKey::generate(kt).unwrap();
        let dn = Dn::parse(&format!("C=CH, O=nvesec, CN={name}")).unwrap();
        let cert = issue(
            &key.public_key(),
            &CertProfile::ca(dn),
            &ca_cert,
            &ca_key,
            now,
        )
        .unwrap();
        (key, cert)
    };
    let (nve_im_key, nve_im) = sub("nve intermediate");
    let (ss_im_key, ss_im) = sub("ss intermediate");
    let ee = |id: &str, ca_cert, ca_key| {
        let key = PrivateKey::generate(kt).unwrap();
        let mut p = CertProfile::end_entity(Dn::parse(&format!("O=nvesec, CN={id}")).unwrap());
        p.sans = vec![SubjectAltName::Dns(id.into())];
        let cert = issue(&key.public_key(), &p, ca_cert, ca_key, now).unwrap();
        let dn = cert.info().unwrap().subject_der;
        (key.to_pem().to_string(), cert.to_pem(), dn)
    };
    let (nve_key, mut nve_cert, nve_dn) = if s.nve_untrusted {
        ee(NVE_ID, &rogue_cert, &rogue_key)
    } else if s.intermediates {
        ee(NVE_ID, &nve_im, &nve_im_key)
    } else {
        ee(NVE_ID, &ca_cert, &ca_key)
    };
    let (ss_key, ss_cert, ss_dn) = if s.ss_untrusted {
        ee(SS_ID, &rogue_cert, &rogue_key)
    } else if s.intermediates {
        ee(SS_ID, &ss_im, &ss_im_key)
    } else {
        ee(SS_ID, &ca_cert, &ca_key)
    };
    if s.intermediates {
        // Our chain file: end entity, then the intermediate (both go out as CERT payloads).
        nve_cert.push_str(&nve_im.to_pem());
    }
    Creds {
        ca: ca_cert.to_pem(),
        ss_intermediate: s.intermediates.then(|| ss_im.to_pem()),
        nve_key,
        nve_cert,
        ss_key,
        ss_cert,
        nve_dn,
        ss_dn,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// (nvesec, strongSwan) underlay addresses.
fn addrs(s: &Setup) -> (&'static str, &'static str) {
    if s.ipv6 {
        (NVE_IP6, SS_IP6)
    } else {
        (NVE_IP, SS_IP)
    }
}

fn swanctl_conf(s: &Setup) -> String {
    let (nve_ip, ss_ip) = addrs(s);
    let (auth, childless, proposals, extra, rekey) = (
        s.auth,
        s.ss_childless,
        s.ss_proposals,
        s.ss_conn_extra,
        s.ss_rekey_time,
    );
    let (ss_id, nve_id) = if s.ip_ids {
        (ss_ip, nve_ip)
    } else {
        (SS_ID, NVE_ID)
    };
    let (method, certs, secrets) = match auth {
        Auth::Psk => (
            "psk",
            "",
            format!("secrets {{\n ike-nve {{\n id-a = {ss_id}\n id-b = {nve_id}\n secret = \"{PSK}\"\n }}\n}}\n"),
        ),
        Auth::Cert(_) => ("pubkey", "certs = ss.pem", String::new()),
    };
    // With DN identities strongSwan uses its certificate's subject (no local id).
    let (local_id, remote_id) = if s.dn_ids {
        (String::new(), format!("id = \"O=nvesec, CN={NVE_ID}\""))
    } else {
        (format!("id = {ss_id}"), format!("id = {nve_id}"))
    };
    format!(
        "connections {{\n nve {{\n version = 2\n local_addrs = {ss_ip}\n remote_addrs = {nve_ip}\n \
         proposals = {proposals}\n childless = {childless}\n rekey_time = {rekey}\n {extra}\n \
         local {{\n auth = {method}\n {local_id}\n {certs}\n }}\n \
         remote {{\n auth = {method}\n {remote_id}\n }}\n }}\n}}\n{secrets}"
    )
}

impl Pair {
    fn new(s: Setup) -> Pair {
        require_root();
        let nve = Netns::new("nvin").unwrap();
        let ss = Netns::new("nvis").unwrap();
        let (nve_ip, ss_ip) = addrs(&s);
        if s.ipv6 {
            // No duplicate address detection: the addresses are usable (bindable) at once.
            for ns in [&nve, &ss] {
                ns.exec("sysctl", &["-qw", "net.ipv6.conf.default.accept_dad=0"])
                    .unwrap();
            }
            link(&nve, &format!("{nve_ip}/64"), &ss, &format!("{ss_ip}/64")).unwrap();
        } else {
            link(&nve, &format!("{nve_ip}/24"), &ss, &format!("{ss_ip}/24")).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let ss_dir = dir.path().join("ss");
        let nve_dir = dir.path().join("nve");
        fs::create_dir_all(ss_dir.join("x509ca")).unwrap();
        fs::create_dir_all(ss_dir.join("x509")).unwrap();
        fs::create_dir_all(ss_dir.join("private")).unwrap();
        fs::create_dir_all(&nve_dir).unwrap();
        let mut ids = if s.ip_ids {
            (nve_ip.to_string(), ss_ip.to_string())
        } else {
            (NVE_ID.to_string(), SS_ID.to_string())
        };
        let auth = match s.auth {
            Auth::Psk => DriverAuth::Psk {
                secret: s.driver_psk.into(),
            },
            Auth::Cert(kt) => {
                let c = make_creds(kt, &s);
                fs::write(ss_dir.join("x509ca/ca.pem"), &c.ca).unwrap();
                if let Some(im) = &c.ss_intermediate {
                    fs::write(ss_dir.join("x509ca/intermediate.pem"), im).unwrap();
                }
                fs::write(ss_dir.join("x509/ss.pem"), &c.ss_cert).unwrap();
                fs::write(ss_dir.join("private/ss.key"), &c.ss_key).unwrap();
                fs::write(nve_dir.join("ca.pem"), &c.ca).unwrap();
                fs::write(nve_dir.join("nve.pem"), &c.nve_cert).unwrap();
                fs::write(nve_dir.join("nve.key"), &c.nve_key).unwrap();
                if s.dn_ids {
                    ids = (
                        format!("der:{}", hex(&c.nve_dn)),
                        format!("der:{}", hex(&c.ss_dn)),
                    );
                }
                DriverAuth::Cert {
                    key: nve_dir.join("nve.key"),
                    cert: nve_dir.join("nve.pem"),
                    cas: vec![nve_dir.join("ca.pem")],
                }
            }
        };
        fs::write(ss_dir.join("swanctl.conf"), swanctl_conf(&s)).unwrap();
        // A second log sink at IKE level 4: charon dumps SKEYSEED and Sk_* there.
        let extra = format!(
            "filelog {{ keys {{ path = {}/keys.log\n default = 0\n ike = 4\n flush_line = yes }} }}\n{}",
            ss_dir.display(),
            s.charon_extra
        );
        let charon = Charon::start(&ss, &ss_dir, &extra).unwrap();
        charon.load_all().unwrap();
        let mut cfg = DriverConfig {
            listen: std::net::SocketAddr::new(nve_ip.parse().unwrap(), 500),
            cookie_threshold: s.cookie_threshold,
            fragment_mtu: s.fragment_mtu,
            half_open_timeout_ms: s.half_open_timeout_ms,
            retransmit_timeout_ms: s.retransmit.map(|r| r.0),
            retransmit_tries: s.retransmit.map(|r| r.1),
            force_inbound_gsa_id: None,
            connections: vec![DriverConn {
                name: "ss".into(),
                local_id: ids.0.clone(),
                remote_id: ids.1.clone(),
                remote_addrs: vec![ss_ip.parse().unwrap()],
                auth,
                childless: None,
                proposal: Some(s.proposal.into()),
                dpd_delay_secs: s.dpd_delay_secs,
                rekey_time_ms: s.rekey_time_ms,
                gsa: None,
            }],
        };
        if s.second_conn {
            let mut c2 = cfg.connections[0].clone();
            c2.name = "ss2".into();
            cfg.connections.push(c2);
        }
        let driver = DriverProcess::spawn(&nve, Path::new(DRIVER), &cfg, &nve_dir, true).unwrap();
        let driver_cfg = cfg.clone();
        Pair {
            driver,
            charon,
            _ns: (nve, ss),
            dir,
            suite: s.suite,
            key_lens: s.key_lens,
            addrs: (nve_ip, ss_ip),
            driver_cfg,
            ids: if s.dn_ids {
                (
                    format!("O=nvesec, CN={NVE_ID}"),
                    format!("O=nvesec, CN={SS_ID}"),
                    ids.0.replacen("der:", "dn:", 1),
                    ids.1.replacen("der:", "dn:", 1),
                )
            } else {
                (ids.0.clone(), ids.1.clone(), ids.0.clone(), ids.1.clone())
            },
        }
    }

    fn list_sas(&self) -> String {
        let out = self.charon.swanctl(&["--list-sas"]).unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until `swanctl --list-sas` satisfies `pred`; returns the last output.
    fn wait_sas(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = self.list_sas();
            if pred(&out) {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: list-sas:\n{out}\ncharon log:\n{}",
                self.charon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until charon's main log contains `needle`.
    fn wait_log(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.charon.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "charon never logged {needle:?}; log:\n{}",
                self.charon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn event(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.driver
            .wait_event(pred, WAIT)
            .unwrap_or_else(|e| panic!("{what}: {e}\ncharon log:\n{}", self.charon.log()))
    }

    fn event_after(&self, seen: usize, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.driver
            .wait_event_after(seen, pred, WAIT)
            .unwrap_or_else(|e| panic!("{what}: {e}\ncharon log:\n{}", self.charon.log()))
    }

    fn logged_key_sets(&self) -> Vec<LoggedIkeKeys> {
        let text = fs::read_to_string(self.dir.path().join("ss/keys.log")).unwrap_or_default();
        ike_key_sets(&text)
    }

    fn dumped_keys(&self) -> Vec<DumpedKeys> {
        read_key_dumps(&self.driver.key_dump_path()).unwrap()
    }

    /// The SK_* keys charon derived for the SA with these SPIs equal the engine's.
    fn assert_keys_match(&self, spi_i: &str, spi_r: &str) {
        let ours = self
            .dumped_keys()
            .into_iter()
            .find(|k| k.spi_i == spi_i && k.spi_r == spi_r)
            .unwrap_or_else(|| panic!("driver dumped no keys for {spi_i}/{spi_r}"));
        let sets = self.logged_key_sets();
        // charon logs one set per derivation; exactly one of them must be ours.
        let same: Vec<&LoggedIkeKeys> = sets.iter().filter(|s| logged_equals(s, &ours)).collect();
        assert_eq!(
            same.len(),
            1,
            "charon logged {} key sets, none (or several) equal to ours for {spi_i}/{spi_r}",
            sets.len()
        );
        let s = same[0];
        let lens: Vec<usize> = [&s.sk_d, &s.sk_ei, &s.sk_er, &s.sk_pi, &s.sk_pr]
            .iter()
            .map(|k| k.as_ref().map_or(0, |k| k.len()))
            .collect();
        assert_eq!(lens, self.key_lens);
        assert!(s.skeyseed.is_some(), "charon logs SKEYSEED at level 4");
    }
}

/// Every key charon logged equals the dumped one (none missing).
fn logged_equals(s: &LoggedIkeKeys, k: &DumpedKeys) -> bool {
    let pairs = [
        (&s.sk_d, &k.sk_d),
        (&s.sk_ei, &k.sk_ei),
        (&s.sk_er, &k.sk_er),
        (&s.sk_pi, &k.sk_pi),
        (&s.sk_pr, &k.sk_pr),
    ];
    pairs.iter().all(|(logged, ours)| {
        let ours = unhex(ours).expect("hex in key dump");
        logged.as_ref().is_some_and(|l| l.ct_eq(&ours))
    })
}

/// `(SPIi, SPIr, local is initiator)` of the one `nve` IKE SA in `--list-sas` output.
/// strongSwan prints `nve: #N, ESTABLISHED, IKEv2, <spi_i>_i[*] <spi_r>_r[*]`; `*` marks
/// strongSwan's own SPI.
fn listed_spis(out: &str) -> Vec<(String, String, bool)> {
    out.lines()
        .filter(|l| l.starts_with("nve: #") && l.contains("ESTABLISHED, IKEv2"))
        .filter_map(|l| {
            let mut words = l.split_whitespace().rev();
            let r = words.next()?;
            let i = words.next()?;
            let spi_i = i.strip_suffix("_i*").or_else(|| i.strip_suffix("_i"))?;
            let spi_r = r.strip_suffix("_r*").or_else(|| r.strip_suffix("_r"))?;
            Some((spi_i.to_string(), spi_r.to_string(), i.ends_with('*')))
        })
        .collect()
}

fn spis_of(ev: &Value) -> (String, String) {
    (
        ev["spi_i"].as_str().unwrap().to_string(),
        ev["spi_r"].as_str().unwrap().to_string(),
    )
}

/// The established SA as strongSwan lists it: SPIs, addresses, identities, suite, no CHILD_SA.
fn assert_listed(p: &Pair, out: &str, spis: &(String, String), ss_initiated: bool) {
    assert_eq!(
        listed_spis(out),
        vec![(spis.0.clone(), spis.1.clone(), ss_initiated)],
        "{out}"
    );
    let (nve, ss) = (&p.ids.0, &p.ids.1);
    let (nve_ip, ss_ip) = p.addrs;
    assert!(
        out.contains(&format!("local  '{ss}' @ {ss_ip}[500]")),
        "{out}"
    );
    assert!(
        out.contains(&format!("remote '{nve}' @ {nve_ip}[500]")),
        "{out}"
    );
    assert!(out.contains(&format!("\n  {}\n", p.suite)), "{out}");
    assert!(!out.contains("INSTALLED"), "childless, yet: {out}");
}

/// Our side of an established SA.
fn assert_up_event(p: &Pair, ev: &Value, initiator: bool) {
    let suite = p.suite;
    assert_eq!(ev["initiator"], initiator, "{ev}");
    assert_eq!(ev["local_id"], p.ids.2.as_str(), "{ev}");
    assert_eq!(ev["peer_id"], p.ids.3.as_str(), "{ev}");
    assert_eq!(ev["state"], "Established", "{ev}");
    // Our names for swanctl's AES_GCM_16-<bits>/PRF_HMAC_SHA2_<bits>.
    let (encr, prf) = match suite {
        "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519" => ("AesGcm16_256", "HmacSha256"),
        "AES_GCM_16-128/PRF_HMAC_SHA2_384/CURVE_25519" => ("AesGcm16_128", "HmacSha384"),
        other => panic!("no mapping for {other}"),
    };
    assert_eq!(ev["prf"], prf, "{ev}");
    assert_eq!(ev["encr"], encr, "{ev}");
}

fn nvesec_initiates(p: &mut Pair) -> (u64, (String, String)) {
    let uid = p.driver.command("initiate ss").unwrap()["uid"]
        .as_u64()
        .unwrap();
    let up = p.event("ike_sa_up", |e| {
        e["event"] == "ike_sa_up" && e["uid"] == uid
    });
    assert_up_event(p, &up, true);
    (uid, spis_of(&up))
}

fn strongswan_initiates(p: &mut Pair, seen: usize) -> (u64, (String, String)) {
    p.charon.swanctl(&["--initiate", "--ike", "nve"]).unwrap();
    let up = p.event_after(seen, "event", |e| e["event"] == "ike_sa_up");
    assert_up_event(p, &up, false);
    (up["uid"].as_u64().unwrap(), spis_of(&up))
}

/// charon's log shows exactly one N(COOKIE) answer to an IKE_SA_INIT and the retry carrying the
/// cookie first (RFC 7296 §2.6): demanded by charon (`charon_demands`) or by us.
fn assert_one_cookie_round(p: &Pair, charon_demands: bool) {
    let (answer, retry) = if charon_demands {
        ("generating", "parsed")
    } else {
        ("parsed", "generating")
    };
    let log = p.charon.log();
    let cookie = format!("{answer} IKE_SA_INIT response 0 [ N(COOKIE) ]");
    assert_eq!(log.matches(cookie.as_str()).count(), 1, "{log}");
    let again = format!("{retry} IKE_SA_INIT request 0 [ N(COOKIE) SA KE No");
    assert!(log.contains(&again), "{log}");
}

/// We initiate, charon logs `our_auth` (how it authenticated us); then strongSwan initiates;
/// both times charon lists exactly that SA, and the keys match.
fn both_directions_after(p: &mut Pair, our_auth: &str) {
    let (uid, _) = nvesec_initiates_listed(p, "established");
    p.wait_log(our_auth);
    let (_, spis) = delete_then_strongswan_initiates(p, uid);
    p.assert_keys_match(&spis.0, &spis.1);
}

/// We initiate and wait until charon lists exactly that IKE SA (`what`: for the failure text).
fn nvesec_initiates_listed(p: &mut Pair, what: &str) -> (u64, (String, String)) {
    let (uid, spis) = nvesec_initiates(p);
    let out = p.wait_sas(what, |o| !listed_spis(o).is_empty());
    assert_listed(p, &out, &spis, false);
    (uid, spis)
}

/// Delete our IKE SA `uid`, then strongSwan initiates and charon lists exactly the new one.
fn delete_then_strongswan_initiates(p: &mut Pair, uid: u64) -> (u64, (String, String)) {
    p.driver.command(&format!("delete-ike {uid}")).unwrap();
    p.wait_sas("deleted", |o| !o.contains("nve: #"));
    let seen = p.driver.events().len();
    let (ss_uid, spis) = strongswan_initiates(p, seen);
    let out = p.wait_sas("established by strongSwan", |o| !listed_spis(o).is_empty());
    assert_listed(p, &out, &spis, true);
    (ss_uid, spis)
}

#[test]
fn psk_nvesec_initiates_rekeys_both_ways_and_deletes() {
    let mut p = Pair::new(Setup::default());
    let (uid, spis) = nvesec_initiates_listed(&mut p, "established");
    p.wait_log(&format!(
        "IKE_SA nve[1] established between {SS_IP}[{SS_ID}]...{NVE_IP}[{NVE_ID}]"
    ));
    p.wait_log(&format!(
        "authentication of '{NVE_ID}' with pre-shared key successful"
    ));
    p.assert_keys_match(&spis.0, &spis.1);

    // IKE SA rekey from our side (RFC 7296 §2.18): new SPIs, keys from SK_d of the old SA.
    let seen = p.driver.events().len();
    p.driver.command(&format!("rekey-ike {uid}")).unwrap();
    let rk = p.event_after(seen, "event", |e| e["event"] == "ike_sa_rekeyed");
    assert_eq!(rk["old"], uid);
    assert_eq!(rk["initiator"], true, "we initiated the rekey: {rk}");
    let spis2 = spis_of(&rk);
    let uid2 = rk["uid"].as_u64().unwrap();
    assert_ne!(spis2, spis);
    let out = p.wait_sas("rekeyed by nvesec", |o| {
        listed_spis(o)
            .iter()
            .map(|s| (s.0.clone(), s.1.clone()))
            .collect::<Vec<_>>()
            == vec![spis2.clone()]
    });
    assert_listed(&p, &out, &spis2, false);
    p.assert_keys_match(&spis2.0, &spis2.1);
    p.event("old SA deleted after rekey", |e| {
        e["event"] == "ike_sa_down" && e["uid"] == uid
    });

    // IKE SA rekey from strongSwan's side.
    let seen = p.driver.events().len();
    p.charon.swanctl(&["--rekey", "--ike", "nve"]).unwrap();
    let rk = p.event_after(seen, "event", |e| e["event"] == "ike_sa_rekeyed");
    assert_eq!(rk["old"], uid2);
    assert_eq!(
        rk["initiator"], false,
        "strongSwan initiated the rekey: {rk}"
    );
    let spis3 = spis_of(&rk);
    assert!(spis3 != spis2 && spis3 != spis);
    let out = p.wait_sas("rekeyed by strongSwan", |o| {
        listed_spis(o)
            .iter()
            .map(|s| (s.0.clone(), s.1.clone()))
            .collect::<Vec<_>>()
            == vec![spis3.clone()]
    });
    // strongSwan initiated this SA's creating exchange, so its SPI is now SPIi.
    assert_listed(&p, &out, &spis3, true);
    p.assert_keys_match(&spis3.0, &spis3.1);
    assert_eq!(p.logged_key_sets().len(), 3, "one derivation per SA");

    // Delete from our side: charon sees the Delete and drops the SA.
    let uid3 = rk["uid"].as_u64().unwrap();
    let seen = p.driver.events().len();
    p.driver.command(&format!("delete-ike {uid3}")).unwrap();
    let down = p.event_after(seen, "event", |e| e["event"] == "ike_sa_down");
    assert_eq!(down["uid"], uid3);
    assert_eq!(down["reason"], "DeletedLocally");
    p.wait_log("received DELETE for IKE_SA nve[3]");
    p.wait_sas("deleted", |o| {
        listed_spis(o).is_empty() && !o.contains("nve: #")
    });
    assert!(p.driver.status().unwrap().is_empty());
}

#[test]
fn psk_strongswan_initiates_and_terminates() {
    let mut p = Pair::new(Setup::default());
    let (uid, spis) = strongswan_initiates(&mut p, 0);
    let out = p.wait_sas("established", |o| !listed_spis(o).is_empty());
    assert_listed(&p, &out, &spis, true);
    p.wait_log(&format!(
        "authentication of '{NVE_ID}' with pre-shared key successful"
    ));
    p.wait_log(&format!(
        "authentication of '{SS_ID}' (myself) with pre-shared key"
    ));
    p.assert_keys_match(&spis.0, &spis.1);
    let status = p.driver.status().unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0]["spi_i"], spis.0.as_str());
    assert_eq!(status[0]["initiator"], false);

    let seen = p.driver.events().len();
    p.charon.swanctl(&["--terminate", "--ike", "nve"]).unwrap();
    let down = p.event_after(seen, "event", |e| e["event"] == "ike_sa_down");
    assert_eq!(down["uid"], uid);
    assert_eq!(down["reason"], "DeletedByPeer");
    p.wait_log("IKE_SA deleted");
    assert!(p.list_sas().trim().is_empty() || listed_spis(&p.list_sas()).is_empty());
    assert!(p.driver.status().unwrap().is_empty());
}

/// Certificates issued by nvesec_pki, loaded by strongSwan from its swanctl dirs; RFC 7427
/// signatures both ways, SAs from each side, deleted from each side.
fn certificates_both_directions(kt: KeyType, ss_alg: &str) {
    let mut p = Pair::new(Setup {
        auth: Auth::Cert(kt),
        ss_childless: "force",
        ..Setup::default()
    });
    let certs = p.charon.swanctl(&["--list-certs"]).unwrap();
    let certs = String::from_utf8_lossy(&certs.stdout);
    assert!(certs.contains(&format!("altNames:  {SS_ID}")), "{certs}");

    let (uid, spis) = nvesec_initiates_listed(&mut p, "established");
    p.wait_log(&format!(
        "received end entity cert \"O=nvesec, CN={NVE_ID}\""
    ));
    p.wait_log(&format!(
        "authentication of '{NVE_ID}' with {ss_alg} successful"
    ));
    p.wait_log(&format!(
        "authentication of '{SS_ID}' (myself) with {ss_alg} successful"
    ));
    // Our CERTREQ names the CA by its key hash; charon resolves it.
    p.wait_log("received cert request for \"C=CH, O=nvesec, CN=interop CA\"");
    p.assert_keys_match(&spis.0, &spis.1);

    // Terminated from our side.
    let seen = p.driver.events().len();
    p.driver.command(&format!("terminate {uid}")).unwrap();
    let down = p.event_after(seen, "event", |e| e["event"] == "ike_sa_down");
    assert_eq!(
        (down["uid"].as_u64(), down["reason"].as_str()),
        (Some(uid), Some("DeletedLocally"))
    );
    p.wait_log("received DELETE for IKE_SA nve[1]");
    p.wait_sas("deleted", |o| !o.contains("nve: #"));

    // strongSwan initiates (childless = force), then terminates.
    let seen = p.driver.events().len();
    let (uid2, spis2) = strongswan_initiates(&mut p, seen);
    let out = p.wait_sas("established by strongSwan", |o| !listed_spis(o).is_empty());
    assert_listed(&p, &out, &spis2, true);
    let log = p.charon.log();
    assert_eq!(
        log.matches(&format!(
            "authentication of '{NVE_ID}' with {ss_alg} successful"
        ))
        .count(),
        2,
        "{log}"
    );
    p.assert_keys_match(&spis2.0, &spis2.1);
    let seen = p.driver.events().len();
    p.charon.swanctl(&["--terminate", "--ike", "nve"]).unwrap();
    let down = p.event_after(seen, "event", |e| e["event"] == "ike_sa_down");
    assert_eq!(
        (down["uid"].as_u64(), down["reason"].as_str()),
        (Some(uid2), Some("DeletedByPeer"))
    );
}

#[test]
fn ed25519_certificates_both_directions() {
    certificates_both_directions(KeyType::Ed25519, "ED25519");
}

#[test]
fn ecdsa_p256_certificates_both_directions() {
    certificates_both_directions(KeyType::EcdsaP256, "ECDSA_WITH_SHA256_DER");
}

/// Cookie threshold 0: the driver demands a cookie for every IKE_SA_INIT (RFC 7296 §2.6);
/// strongSwan retries with it and the SA comes up.
#[test]
fn strongswan_initiates_against_cookie_demand() {
    let mut p = Pair::new(Setup {
        cookie_threshold: Some(0),
        ss_childless: "force",
        ..Setup::default()
    });
    let (_, spis) = strongswan_initiates(&mut p, 0);
    let out = p.wait_sas("established", |o| !listed_spis(o).is_empty());
    assert_listed(&p, &out, &spis, true);
    assert_one_cookie_round(&p, false);
    p.assert_keys_match(&spis.0, &spis.1);
}

/// strongSwan offers a proposal we do not support first and sends its KE for MODP_2048: we
/// pick AES-GCM-128/PRF-SHA384/Curve25519 and ask for group 31 with INVALID_KE_PAYLOAD
/// (RFC 7296 §1.2); strongSwan retries. Then the same suite initiated and rekeyed by us
/// (the rekey SKEYSEED uses the SHA-384 PRF) and by strongSwan.
#[test]
fn proposal_selection_invalid_ke_and_sha384_rekeys() {
    let mut p = Pair::new(Setup {
        ss_proposals: "aes128-sha256-modp2048, aes128gcm16-prfsha384-x25519",
        proposal: "aes128gcm16-prfsha384-x25519",
        suite: "AES_GCM_16-128/PRF_HMAC_SHA2_384/CURVE_25519",
        // SK_d/SK_p* = SHA-384 output, SK_e* = 16-byte key + 4-byte salt.
        key_lens: [48, 20, 20, 48, 48],
        ..Setup::default()
    });
    let (uid, spis) = strongswan_initiates(&mut p, 0);
    p.wait_log("peer didn't accept DH group MODP_2048, it requested CURVE_25519");
    p.wait_log("selected proposal: IKE:AES_GCM_16_128/PRF_HMAC_SHA2_384/CURVE_25519");
    let out = p.wait_sas("established", |o| !listed_spis(o).is_empty());
    assert_listed(&p, &out, &spis, true);
    p.assert_keys_match(&spis.0, &spis.1);
    p.driver.command(&format!("delete-ike {uid}")).unwrap();
    p.wait_sas("deleted", |o| !o.contains("nve: #"));

    let seen = p.driver.events().len();
    let (uid, spis) = nvesec_initiates_listed(&mut p, "established by us");
    p.assert_keys_match(&spis.0, &spis.1);
    p.driver.command(&format!("rekey-ike {uid}")).unwrap();
    let rk = p.event_after(seen, "event", |e| e["event"] == "ike_sa_rekeyed");
    let spis2 = spis_of(&rk);
    let out = p.wait_sas("rekeyed by us", |o| {
        listed_spis(o).first().map(|s| (s.0.clone(), s.1.clone())) == Some(spis2.clone())
            && listed_spis(o).len() == 1
    });
    assert_listed(&p, &out, &spis2, false);
    p.assert_keys_match(&spis2.0, &spis2.1);
    let seen = p.driver.events().len();
    p.charon.swanctl(&["--rekey", "--ike", "nve"]).unwrap();
    let rk = p.event_after(seen, "event", |e| e["event"] == "ike_sa_rekeyed");
    let spis3 = spis_of(&rk);
    let out = p.wait_sas("rekeyed by strongSwan", |o| {
        listed_spis(o).first().map(|s| (s.0.clone(), s.1.clone())) == Some(spis3.clone())
            && listed_spis(o).len() == 1
    });
    assert_listed(&p, &out, &spis3, true);
    p.assert_keys_match(&spis3.0, &spis3.1);
}

/// strongSwan asks for an ESP CHILD_SA, in IKE_AUTH and later with CREATE_CHILD_SA. nvesec
/// (a plain IKEv2 peer towards strongSwan) refuses the child; the IKE SA stays up
/// (RFC 7296 §2.21.2, §1.3).
#[test]
fn esp_child_requests_are_refused_and_the_ike_sa_stays() {
    let mut p = Pair::new(Setup {
        ss_conn_extra: "children {\n esp {\n esp_proposals = aes128gcm16\n \
                        local_ts = 10.2.0.0/24\n remote_ts = 10.1.0.0/24\n }\n }",
        ..Setup::default()
    });
    // swanctl reports the failed child as an error; the IKE SA still comes up.
    let _ = p.charon.swanctl(&["--initiate", "--child", "esp"]);
    let up = p.event("ike_sa_up", |e| e["event"] == "ike_sa_up");
    let spis = spis_of(&up);
    let out = p.wait_sas("IKE SA established", |o| !listed_spis(o).is_empty());
    assert_listed(&p, &out, &spis, true);
    let log = p.charon.log();
    assert!(
        log.contains("generating IKE_AUTH request 1 [ IDi N(INIT_CONTACT) IDr AUTH SA TSi TSr"),
        "{log}"
    );
    assert!(
        log.contains("parsed IKE_AUTH response 1 [ IDr AUTH N(NO_PROP) ]"),
        "{log}"
    );
    assert!(
        log.contains("failed to establish CHILD_SA, keeping IKE_SA"),
        "{log}"
    );

    let _ = p.charon.swanctl(&["--initiate", "--child", "esp"]);
    p.wait_log("generating CREATE_CHILD_SA request");
    let deadline = Instant::now() + WAIT;
    while p.charon.log().matches("no CHILD_SA built").count() < 2 {
        assert!(Instant::now() < deadline, "{}", p.charon.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = p.list_sas();
    assert_listed(&p, &out, &spis, true);
    assert_eq!(p.driver.status().unwrap().len(), 1);
}

/// RFC 7383 both ways: certificate-bearing IKE_AUTH messages split at 400 bytes by strongSwan
/// and by the engine, each reassembled by the other side.
#[test]
fn fragmented_certificate_exchanges_both_ways() {
    let mut p = Pair::new(Setup {
        auth: Auth::Cert(KeyType::Ed25519),
        charon_extra: "fragment_size = 400",
        fragment_mtu: Some(400),
        ..Setup::default()
    });
    let (uid, spis) = nvesec_initiates(&mut p);
    p.wait_sas("established", |o| !listed_spis(o).is_empty());
    let log = p.charon.log();
    assert!(log.contains("parsed IKE_AUTH request 1 [ EF(1/"), "{log}");
    assert!(log.contains("reassembled fragmented IKE message"), "{log}");
    assert!(log.contains("splitting IKE message"), "{log}");
    p.assert_keys_match(&spis.0, &spis.1);
    delete_then_strongswan_initiates(&mut p, uid);
    let log = p.charon.log();
    assert!(log.contains("parsed IKE_AUTH response 1 [ EF(1/"), "{log}");
    assert_eq!(
        log.matches("reassembled fragmented IKE message").count(),
        2,
        "{log}"
    );
}

/// Liveness checks (empty INFORMATIONAL, RFC 7296 §2.4) from strongSwan, then from us, are
/// answered; message IDs stay in step (a rekey afterwards still works).
#[test]
fn dpd_from_each_side_is_answered() {
    let mut p = Pair::new(Setup {
        ss_conn_extra: "dpd_delay = 1s",
        ..Setup::default()
    });
    let (uid, _) = nvesec_initiates(&mut p);
    p.wait_log("generating INFORMATIONAL request 0 [ ]");
    p.wait_log("parsed INFORMATIONAL response 0 [ ]");
    let seen = p.driver.events().len();
    p.driver.command(&format!("rekey-ike {uid}")).unwrap();
    let rk = p.event_after(seen, "event", |e| e["event"] == "ike_sa_rekeyed");
    p.wait_sas("rekeyed after DPD", |o| {
        listed_spis(o)
            .iter()
            .map(|s| (s.0.clone(), s.1.clone()))
            .collect::<Vec<_>>()
            == vec![spis_of(&rk)]
    });
    drop(p);

    let mut p = Pair::new(Setup {
        dpd_delay_secs: Some(1),
        ..Setup::default()
    });
    let (_, spis) = nvesec_initiates(&mut p);
    // Our requests: IKE_SA_INIT 0, IKE_AUTH 1, then the DPD as message 2.
    p.wait_log("parsed INFORMATIONAL request 2 [ ]");
    p.wait_log("generating INFORMATIONAL response 2 [ ]");
    let out = p.list_sas();
    assert_listed(&p, &out, &spis, false);
}

/// Both ends rekey the IKE SA at once (RFC 7296 §2.8.2): the driver holds incoming datagrams
/// while strongSwan's CREATE_CHILD_SA request arrives and ours goes out, so the requests
/// cross. Both sides must end with the same single IKE SA and the same keys.
///
/// When we win, our Delete of the old SA may reach strongSwan before our answer to its
/// request (its worker threads race); strongSwan then aborts its rekey without ever deleting
/// the redundant SA it made us create, and our fallback removes it after the half-open
/// timeout (2 s here, 30 s by default).
#[test]
fn simultaneous_ike_rekey_converges() {
    let mut p = Pair::new(Setup {
        half_open_timeout_ms: Some(2000),
        ..Setup::default()
    });
    let (uid, spis) = nvesec_initiates(&mut p);
    p.wait_sas("established", |o| !listed_spis(o).is_empty());
    p.driver.command("pause-rx").unwrap();
    p.charon.swanctl(&["--rekey", "--ike", "nve"]).unwrap();
    p.wait_log("generating CREATE_CHILD_SA request 0 [ SA No KE ]");
    if let Err(e) = p.driver.command(&format!("rekey-ike {uid}")) {
        panic!("{e}\n{:#?}\n{}", p.driver.events(), p.charon.log());
    }
    p.wait_log("generating CREATE_CHILD_SA response 2 [ SA No KE ]");
    p.driver.command("resume-rx").unwrap();

    // Converged: one SA each, the same SPIs, new ones, keys equal.
    let deadline = Instant::now() + WAIT;
    let (ours, theirs) = loop {
        let ours: Vec<(String, String)> = p
            .driver
            .status()
            .unwrap()
            .iter()
            .filter(|s| s["state"] == "Established")
            .map(spis_of)
            .collect();
        let theirs: Vec<(String, String)> = listed_spis(&p.list_sas())
            .into_iter()
            .map(|s| (s.0, s.1))
            .collect();
        if (ours.len() == 1 && ours == theirs && p.driver.status().unwrap().len() == 1)
            || Instant::now() > deadline
        {
            break (ours, theirs);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        ours,
        theirs,
        "ours {:#?}\ncharon:\n{}",
        p.driver.events(),
        p.charon.log()
    );
    assert_eq!(ours.len(), 1);
    assert_ne!(ours[0], spis);
    p.assert_keys_match(&ours[0].0, &ours[0].1);
    // Both saw the collision and agree on who won (the lowest nonce, §2.8.2).
    let log = p.charon.log();
    assert!(
        log.contains("detected IKE_REKEY collision with IKE_REKEY"),
        "{log}"
    );
    let ours_won = p
        .driver
        .events()
        .iter()
        .any(|e| e["message"] == "IKE_SA rekey collision won: deleting the old SA");
    let ours_lost = p
        .driver
        .events()
        .iter()
        .any(|e| e["message"] == "IKE_SA rekey collision lost: deleting our new SA");
    assert!(ours_won != ours_lost, "{:#?}", p.driver.events());
    let ss_won = log.contains("IKE_SA rekey collision won");
    let ss_lost = log.contains("IKE_SA rekey collision lost");
    let ss_unnoticed = log.contains("peer did not notice IKE_SA rekey collision");
    eprintln!("collision outcome: nvesec won {ours_won}, strongSwan unnoticed {ss_unnoticed}");
    // Both rekeys completed and one new SA was redundant (3 derivations at charon), unless
    // strongSwan aborted its own before deriving its keys.
    let sets = p.logged_key_sets().len();
    assert_eq!(sets, if ss_unnoticed { 2 } else { 3 }, "{log}");
    if ours_lost {
        assert!(ss_won && !ss_lost && !ss_unnoticed, "{log}");
    } else {
        assert!(!ss_won && (ss_lost != ss_unnoticed), "{log}");
        let fallback = p
            .driver
            .events()
            .iter()
            .any(|e| e["message"] == "peer did not delete this replaced IKE SA: removing it");
        assert_eq!(fallback, ss_unnoticed, "{:#?}", p.driver.events());
    }
}

/// strongSwan retransmits a request we hold back (RFC 7296 §2.1): the three identical copies
/// create one new SA; the copies are answered from the response cache.
#[test]
fn retransmitted_rekey_request_is_answered_from_the_cache() {
    let mut p = Pair::new(Setup {
        charon_extra: "retransmit_timeout = 0.3\n retransmit_base = 1.0",
        ..Setup::default()
    });
    let (uid, _) = nvesec_initiates(&mut p);
    p.driver.command("pause-rx").unwrap();
    p.charon.swanctl(&["--rekey", "--ike", "nve"]).unwrap();
    p.wait_log("retransmit 2 of request with message ID 0");
    let seen = p.driver.events().len();
    p.driver.command("resume-rx").unwrap();
    let rk = p.event_after(seen, "event", |e| e["event"] == "ike_sa_rekeyed");
    assert_eq!(rk["old"], uid);
    let spis = spis_of(&rk);
    let out = p.wait_sas("rekeyed", |o| {
        listed_spis(o)
            .iter()
            .map(|s| (s.0.clone(), s.1.clone()))
            .collect::<Vec<_>>()
            == vec![spis.clone()]
    });
    assert_listed(&p, &out, &spis, true);
    p.assert_keys_match(&spis.0, &spis.1);
    std::thread::sleep(Duration::from_millis(300));
    let rekeys = p
        .driver
        .events()
        .iter()
        .filter(|e| e["event"] == "ike_sa_rekeyed")
        .count();
    assert_eq!(rekeys, 1, "{:#?}", p.driver.events());
    let status = p.driver.status().unwrap();
    assert_eq!(status.len(), 1, "{status:#?}");
    assert_eq!(spis_of(&status[0]), spis);
    // Three copies went out; the retransmissions got the very same response back (charon
    // ignores the late duplicates of a response it already processed).
    let log = p.charon.log();
    assert_eq!(
        log.matches("parsed CREATE_CHILD_SA response 0 [ SA No KE ]")
            .count(),
        1,
        "{log}"
    );
    assert_eq!(
        p.logged_key_sets().len(),
        2,
        "one derivation per SA, no extra SA"
    );
}

/// strongSwan restarts and connects again with INITIAL_CONTACT (RFC 7296 §2.4): the engine
/// drops the stale IKE SA of that peer and keeps the new one.
#[test]
fn initial_contact_from_restarted_strongswan_replaces_the_stale_sa() {
    let mut p = Pair::new(Setup {
        ss_childless: "force",
        ..Setup::default()
    });
    let (old, _) = nvesec_initiates(&mut p);
    let ns = &p._ns.1;
    let ss_dir = p.dir.path().join("ss");
    let extra = format!(
        "filelog {{ keys {{ path = {}/keys.log\n default = 0\n ike = 4\n flush_line = yes }} }}",
        ss_dir.display()
    );
    // Same namespace, same port 500: the old daemon must be gone before the new one starts.
    kill_charon(ns);
    let _ = fs::remove_file(ss_dir.join("charon.vici"));
    let restarted = Charon::start(ns, &ss_dir, &extra).unwrap();
    restarted.load_all().unwrap();
    drop(std::mem::replace(&mut p.charon, restarted));
    let seen = p.driver.events().len();
    let (new, spis) = strongswan_initiates(&mut p, seen);
    assert_ne!(new, old);
    p.wait_log("generating IKE_AUTH request 1 [ IDi N(INIT_CONTACT) IDr AUTH");
    let down = p.event("stale SA dropped", |e| {
        e["event"] == "ike_sa_down" && e["uid"] == old
    });
    assert_eq!(down["reason"], "InitialContact");
    let status = p.driver.status().unwrap();
    assert_eq!(status.len(), 1, "{status:#?}");
    assert_eq!(spis_of(&status[0]), spis);
}

/// Kills every charon-systemd in `ns` (only processes this test started live there); zombies
/// have left the namespace, so `ip netns pids` no longer lists them.
fn kill_charon(ns: &Netns) {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", ns.name()])
        .output()
        .unwrap();
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "charon-systemd" {
            let _ = std::process::Command::new("kill")
                .args(["-9", pid])
                .status();
        }
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let out = std::process::Command::new("ip")
            .args(["netns", "pids", ns.name()])
            .output()
            .unwrap();
        let alive = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .any(|pid| {
                fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "charon-systemd")
            });
        if !alive {
            return;
        }
        assert!(Instant::now() < deadline, "charon does not die");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// ID_DER_ASN1_DN identities: strongSwan identifies itself by its certificate's subject (no
/// `id`), and expects ours by DN; the engine checks the DN against the certificate subject.
#[test]
fn dn_identities_with_ecdsa_certificates_both_directions() {
    let mut p = Pair::new(Setup {
        auth: Auth::Cert(KeyType::EcdsaP256),
        dn_ids: true,
        ss_childless: "force",
        ..Setup::default()
    });
    both_directions_after(
        &mut p,
        &format!("authentication of 'O=nvesec, CN={NVE_ID}' with ECDSA_WITH_SHA256_DER successful"),
    );
}

/// A wrong PSK fails both ways with AUTHENTICATION_FAILED (RFC 7296 §2.21.2) and leaves no SA
/// on either side.
#[test]
fn wrong_psk_is_refused_both_ways() {
    let mut p = Pair::new(Setup {
        driver_psk: "not the key strongSwan has",
        ss_childless: "force",
        ..Setup::default()
    });
    let uid = p.driver.command("initiate ss").unwrap()["uid"]
        .as_u64()
        .unwrap();
    let failed = p.event("auth failed", |e| e["event"] == "auth_failed");
    assert_eq!(failed["uid"], uid);
    assert_eq!(failed["notify"], "AUTHENTICATION_FAILED", "{failed}");
    p.wait_log("MAC mismatched");
    p.wait_log("generating IKE_AUTH response 1 [ N(AUTH_FAILED) ]");

    let seen = p.driver.events().len();
    let _ = p.charon.swanctl(&["--initiate", "--ike", "nve"]);
    p.event_after(seen, "event", |e| e["event"] == "auth_failed");
    p.wait_log("received AUTHENTICATION_FAILED notify error");
    assert!(!p.list_sas().contains("nve: #"), "{}", p.list_sas());
    assert!(p.driver.status().unwrap().is_empty());
    assert!(!p.driver.events().iter().any(|e| e["event"] == "ike_sa_up"));
}

/// A strongSwan certificate from a CA we do not trust: we refuse it as responder and as
/// initiator. As initiator we tell strongSwan, which already considers the SA established,
/// with AUTHENTICATION_FAILED in a separate INFORMATIONAL (RFC 7296 §2.21.2), so it drops
/// the SA at once.
#[test]
fn untrusted_strongswan_certificate_is_refused() {
    let mut p = Pair::new(Setup {
        auth: Auth::Cert(KeyType::Ed25519),
        ss_untrusted: true,
        ss_childless: "force",
        ..Setup::default()
    });
    let _ = p.charon.swanctl(&["--initiate", "--ike", "nve"]);
    let failed = p.event("auth failed", |e| e["event"] == "auth_failed");
    assert!(
        failed["reason"].as_str().unwrap().contains("rogue CA"),
        "{failed}"
    );
    p.wait_log("received AUTHENTICATION_FAILED notify error");

    let seen = p.driver.events().len();
    p.driver.command("initiate ss").unwrap();
    let failed = p.event_after(seen, "event", |e| e["event"] == "auth_failed");
    assert!(
        failed["reason"].as_str().unwrap().contains("rogue CA"),
        "{failed}"
    );
    p.wait_log("parsed INFORMATIONAL request 2 [ N(AUTH_FAILED) ]");
    p.wait_sas("strongSwan dropped the SA", |o| !o.contains("nve: #"));
    assert!(p.driver.status().unwrap().is_empty());
    assert!(!p.driver.events().iter().any(|e| e["event"] == "ike_sa_up"));
}

/// strongSwan does not trust our certificate. As responder it refuses our IKE_AUTH; as
/// initiator (we already sent our AUTH and consider the SA established) it sends
/// AUTHENTICATION_FAILED in a separate INFORMATIONAL, and we must drop the SA.
#[test]
fn untrusted_nvesec_certificate_is_refused_by_strongswan() {
    let mut p = Pair::new(Setup {
        auth: Auth::Cert(KeyType::EcdsaP256),
        nve_untrusted: true,
        ss_childless: "force",
        ..Setup::default()
    });
    let uid = p.driver.command("initiate ss").unwrap()["uid"]
        .as_u64()
        .unwrap();
    let failed = p.event("refused by strongSwan", |e| e["event"] == "auth_failed");
    assert_eq!(failed["uid"], uid);
    assert_eq!(failed["notify"], "AUTHENTICATION_FAILED", "{failed}");
    p.wait_log("generating IKE_AUTH response 1 [ N(AUTH_FAILED) ]");

    let seen = p.driver.events().len();
    let _ = p.charon.swanctl(&["--initiate", "--ike", "nve"]);
    let failed = p.event_after(seen, "event", |e| e["event"] == "auth_failed");
    assert_eq!(failed["notify"], "AUTHENTICATION_FAILED", "{failed}");
    let down = p.event_after(seen, "event", |e| e["event"] == "ike_sa_down");
    assert_eq!(down["uid"], failed["uid"]);
    assert_eq!(down["reason"], "AuthFailed");
    p.wait_log("generating INFORMATIONAL request 2 [ N(AUTH_FAILED) ]");
    assert!(p.driver.status().unwrap().is_empty());
    assert!(!p.list_sas().contains("nve: #"), "{}", p.list_sas());
}

/// Both ends delete the IKE SA at once (the requests cross): both end with no SA.
#[test]
fn simultaneous_delete_leaves_nothing() {
    let mut p = Pair::new(Setup::default());
    let (uid, _) = nvesec_initiates(&mut p);
    p.driver.command("pause-rx").unwrap();
    // swanctl --terminate waits for the exchange to finish: run it beside the test.
    let (uri, conf) = (
        format!("unix://{}/charon.vici", p.charon.dir().display()),
        p.charon.dir().join("strongswan.conf"),
    );
    let terminate = std::thread::spawn(move || {
        std::process::Command::new("swanctl")
            .env("STRONGSWAN_CONF", conf)
            .args([
                "--terminate",
                "--ike",
                "nve",
                "--timeout",
                "5",
                "--uri",
                &uri,
            ])
            .output()
    });
    p.wait_log("generating INFORMATIONAL request 0 [ D ]");
    p.driver.command(&format!("delete-ike {uid}")).unwrap();
    p.driver.command("resume-rx").unwrap();
    let down = p.event("down", |e| e["event"] == "ike_sa_down");
    assert_eq!(down["uid"], uid);
    p.wait_sas("gone", |o| !o.contains("nve: #"));
    let deadline = Instant::now() + WAIT;
    while !p.driver.status().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "{:#?}\n{}",
            p.driver.events(),
            p.charon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = terminate.join().unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("terminate completed successfully"),
        "{out:?}\n{}",
        p.charon.log()
    );
}

/// ID_IPV4_ADDR identities (strongSwan's default when no `id` is set), PSK, each side
/// initiating.
#[test]
fn ipv4_address_identities() {
    let mut p = Pair::new(Setup {
        ip_ids: true,
        ss_childless: "force",
        ..Setup::default()
    });
    both_directions_after(
        &mut p,
        &format!("authentication of '{NVE_IP}' with pre-shared key successful"),
    );
}

/// strongSwan demands cookies once one IKE SA is half-open (`cookie_threshold = 1`): we hold
/// the answer to a first IKE_SA_INIT (connection `ss2`) so that SA stays half-open, then
/// initiate `ss`: strongSwan answers `N(COOKIE)` and the engine resends its IKE_SA_INIT with
/// the cookie first and the same nonce (RFC 7296 §2.6); the SA comes up.
#[test]
fn nvesec_initiates_against_strongswan_cookie_demand() {
    let mut p = Pair::new(Setup {
        charon_extra: "cookie_threshold = 1",
        second_conn: true,
        ..Setup::default()
    });
    p.driver.command("pause-rx").unwrap();
    p.driver.command("initiate ss2").unwrap();
    p.wait_log("generating IKE_SA_INIT response 0 [ SA KE No");
    let uid = p.driver.command("initiate ss").unwrap()["uid"]
        .as_u64()
        .unwrap();
    p.wait_log("generating IKE_SA_INIT response 0 [ N(COOKIE) ]");
    p.driver.command("resume-rx").unwrap();
    let up = p.event("ss up", |e| e["event"] == "ike_sa_up" && e["uid"] == uid);
    assert_up_event(&p, &up, true);
    let spis = spis_of(&up);
    p.wait_sas("ss listed", |o| {
        listed_spis(o)
            .iter()
            .any(|s| (s.0.clone(), s.1.clone()) == spis)
    });
    assert_one_cookie_round(&p, true);
    p.assert_keys_match(&spis.0, &spis.1);
}

/// Both ends run their own IKE SA rekey timers for 8 s: strongSwan at 2 s (its `rand_time`
/// does not apply below a second), the engine at 2.05 s minus 0-10 %. Either end may come
/// first for each generation (and rarely both at once, §2.8.2). At the end: one SA per side, the
/// same SPIs, equal keys, only rekey-related SA removals.
#[test]
fn periodic_rekeys_from_both_sides_stay_in_step() {
    let mut p = Pair::new(Setup {
        ss_rekey_time: "2s",
        ss_conn_extra: "rand_time = 1s\n over_time = 10s",
        rekey_time_ms: Some(2050),
        ..Setup::default()
    });
    nvesec_initiates(&mut p);
    std::thread::sleep(Duration::from_secs(8));
    // Stop the timers' effect by reading a consistent picture: retry until both agree.
    let deadline = Instant::now() + WAIT;
    let agreed = loop {
        let ours: Vec<(String, String)> = p
            .driver
            .status()
            .unwrap()
            .iter()
            .filter(|s| s["state"] == "Established")
            .map(spis_of)
            .collect();
        let theirs: Vec<(String, String)> = listed_spis(&p.list_sas())
            .into_iter()
            .map(|s| (s.0, s.1))
            .collect();
        if ours.len() == 1 && ours == theirs {
            break ours[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "ours {ours:?} theirs {theirs:?}\n{}",
            p.charon.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    p.assert_keys_match(&agreed.0, &agreed.1);
    let events = p.driver.events();
    let rekeys = events
        .iter()
        .filter(|e| e["event"] == "ike_sa_rekeyed")
        .count();
    assert!(rekeys >= 3, "only {rekeys} rekeys in 8 s");
    // Nothing was lost on the way: no SA went down for any reason but a rekey or a
    // collision's redundant SA.
    for e in events.iter().filter(|e| e["event"] == "ike_sa_down") {
        let r = e["reason"].as_str().unwrap();
        assert!(
            r.starts_with("Rekeyed") || r == "DeletedLocally" || r == "DeletedByPeer",
            "{e}"
        );
    }
    let log = p.charon.log();
    assert!(!log.contains("giving up after"), "{log}");
}

/// IPv6 underlay, Ed25519 certificates, each side initiating; the cookie demand on our side
/// (threshold 0) covers the IPv6 cookie input.
#[test]
fn ipv6_underlay_with_certificates_and_cookies() {
    let mut p = Pair::new(Setup {
        ipv6: true,
        auth: Auth::Cert(KeyType::Ed25519),
        ss_childless: "force",
        cookie_threshold: Some(0),
        ..Setup::default()
    });
    let (uid, spis) = nvesec_initiates_listed(&mut p, "established over IPv6");
    assert_eq!(
        p.driver.status().unwrap()[0]["remote"],
        "[fd00:6e76::2]:500"
    );
    p.assert_keys_match(&spis.0, &spis.1);
    let (_, spis) = delete_then_strongswan_initiates(&mut p, uid);
    assert!(p
        .charon
        .log()
        .contains("parsed IKE_SA_INIT response 0 [ N(COOKIE) ]"));
    p.assert_keys_match(&spis.0, &spis.1);
}

/// No proposal in common (strongSwan only offers ECP-256): NO_PROPOSAL_CHOSEN both ways, and
/// no SA anywhere.
#[test]
fn no_common_proposal_fails_cleanly_both_ways() {
    let mut p = Pair::new(Setup {
        ss_proposals: "aes256gcm16-prfsha256-ecp256",
        ss_childless: "force",
        ..Setup::default()
    });
    let uid = p.driver.command("initiate ss").unwrap()["uid"]
        .as_u64()
        .unwrap();
    let down = p.event("refused", |e| e["event"] == "ike_sa_down");
    assert_eq!(down["uid"], uid);
    assert!(
        down["reason"]
            .as_str()
            .unwrap()
            .contains("NO_PROPOSAL_CHOSEN"),
        "{down}"
    );
    p.wait_log("generating IKE_SA_INIT response 0 [ N(NO_PROP) ]");
    let _ = p.charon.swanctl(&["--initiate", "--ike", "nve"]);
    p.wait_log("received NO_PROPOSAL_CHOSEN notify error");
    assert!(!p.list_sas().contains("nve: #"));
    assert!(p.driver.status().unwrap().is_empty());
    assert!(!p.driver.events().iter().any(|e| e["event"] == "ike_sa_up"));
}

/// Certificate chains through intermediate CAs: each side trusts only the root and must get
/// the other's intermediate in a CERT payload (RFC 7296 §3.6); ECDSA, both directions.
#[test]
fn intermediate_ca_chains_both_directions() {
    let mut p = Pair::new(Setup {
        auth: Auth::Cert(KeyType::EcdsaP256),
        intermediates: true,
        ss_childless: "force",
        ..Setup::default()
    });
    let (uid, _) = nvesec_initiates_listed(&mut p, "established");
    p.wait_log("received issuer cert \"C=CH, O=nvesec, CN=nve intermediate\"");
    p.wait_log("sending issuer cert \"C=CH, O=nvesec, CN=ss intermediate\"");
    let (_, spis) = delete_then_strongswan_initiates(&mut p, uid);
    p.assert_keys_match(&spis.0, &spis.1);
}

/// Our side restarts (the driver process is killed and started again, all state lost) and
/// connects again: our IKE_AUTH carries INITIAL_CONTACT (RFC 7296 §2.4), so strongSwan drops
/// the stale SA at once instead of keeping two.
#[test]
fn restarted_nvesec_sends_initial_contact_and_strongswan_drops_the_stale_sa() {
    let mut p = Pair::new(Setup::default());
    let (_, old) = nvesec_initiates(&mut p);
    p.wait_sas("established", |o| !listed_spis(o).is_empty());
    let nve_dir = p.dir.path().join("nve");
    // All state lost: the process ends (releasing port 500) and a fresh one starts.
    p.driver.stop();
    let fresh = DriverProcess::spawn(
        &p._ns.0,
        Path::new(DRIVER),
        &p.driver_cfg,
        &nve_dir.join("2"),
        true,
    )
    .unwrap();
    drop(std::mem::replace(&mut p.driver, fresh));
    let (_, new) = nvesec_initiates(&mut p);
    assert_ne!(new, old);
    p.wait_log("destroying duplicate IKE_SA for peer 'nve.example', received INITIAL_CONTACT");
    let out = p.wait_sas("only the new SA", |o| listed_spis(o).len() == 1);
    assert_listed(&p, &out, &new, false);
}

/// strongSwan disappears: our liveness checks (DPD every second, retransmissions after 0.2 s,
/// 0.36 s) go unanswered and the SA is declared dead (RFC 7296 §2.4), never on silence alone.
#[test]
fn dead_strongswan_is_detected_by_dpd() {
    let mut p = Pair::new(Setup {
        dpd_delay_secs: Some(1),
        retransmit: Some((200, 2)),
        ..Setup::default()
    });
    let (uid, _) = nvesec_initiates(&mut p);
    p.wait_log("parsed INFORMATIONAL request 2 [ ]");
    kill_charon(&p._ns.1);
    let seen = p.driver.events().len();
    let down = p.event_after(seen, "declared dead", |e| e["event"] == "ike_sa_down");
    assert_eq!(down["uid"], uid);
    assert_eq!(down["reason"], "PeerDead");
    let retransmits = p
        .driver
        .events()
        .iter()
        .skip(seen)
        .filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("retransmit"))
        })
        .count();
    assert_eq!(retransmits, 2, "{:#?}", p.driver.events());
    assert!(p.driver.status().unwrap().is_empty());
}

/// 50 sequential PSK handshakes and deletes, nvesec initiating: every one completes on both
/// sides. Prints the rate (`--nocapture`) for docs/interop.md.
#[test]
fn fifty_sequential_handshakes() {
    let mut p = Pair::new(Setup::default());
    let start = Instant::now();
    for _ in 0..50 {
        let seen = p.driver.events().len();
        let uid = p.driver.command("initiate ss").unwrap()["uid"]
            .as_u64()
            .unwrap();
        p.event_after(seen, "up", |e| e["event"] == "ike_sa_up" && e["uid"] == uid);
        p.driver.command(&format!("delete-ike {uid}")).unwrap();
        p.event_after(seen, "down", |e| {
            e["event"] == "ike_sa_down" && e["uid"] == uid
        });
    }
    let elapsed = start.elapsed();
    eprintln!(
        "50 handshakes + deletes against strongSwan in {elapsed:?} ({:.0}/s)",
        50.0 / elapsed.as_secs_f64()
    );
    let log = p.charon.log();
    assert_eq!(log.matches("established between").count(), 50, "{log}");
    assert_eq!(
        log.matches("received DELETE for IKE_SA").count(),
        50,
        "{log}"
    );
    p.wait_sas("all deleted", |o| !o.contains("nve: #"));
    assert!(p.driver.status().unwrap().is_empty());
}
