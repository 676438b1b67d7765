//! Issue 7 scenario 3: strongSwan 5.9 (Debian's charon) as the foreign peer of the real nvesecd.
//! strongSwan sends no nvesec Vendor ID, so nvesecd treats it as a plain IKEv2 peer: the IKE SA
//! is childless (RFC 6023) and no GSA is ever negotiated with it. For a PSK, Ed25519 and ECDSA
//! P-256 certificates (made with the `nvesec-pki` binary; strongSwan loads the very same files
//! from its swanctl directories) each test runs the whole cycle: nvesecd initiates, rekeys the
//! IKE SA, strongSwan rekeys it, nvesecd deletes it; strongSwan initiates, rekeys, deletes.
//! After every step both ends must list the same single SA (same SPIs, who initiated, no
//! CHILD_SA) and strongSwan's own log must say what happened.
//!
//! Run as root: `cargo test -p nvesec-interop --test scenario_strongswan -- --test-threads=1`.

mod support_ike;

use std::time::{Duration, Instant};

use nvesec_interop::require_root;
use nvesec_interop::strongswan::Charon;
use nvesec_interop::topology::{Scenario, Topology};
use serde_json::Value;
use support_ike::{established, nve_dir, render_conf, spis, Conn, IkeNve, KeyKind, TestCa};

const NVE_ID: &str = "nve.example";
const SS_ID: &str = "ss.example";
const PSK: &str = "scenario 3 pre-shared key, long enough";
const SUITE: &str = "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519";
const WAIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Auth {
    Psk,
    Cert(KeyKind),
}

impl Auth {
    /// How charon names the method in "authentication of '...' with X successful".
    fn charon_method(self) -> &'static str {
        match self {
            Auth::Psk => "pre-shared key",
            Auth::Cert(KeyKind::Ed25519) => "ED25519",
            Auth::Cert(KeyKind::EcdsaP256) => "ECDSA_WITH_SHA256_DER",
        }
    }
}

/// nvesecd (nve0 of a two-NVE bridge) and charon (in nve1). Field order is drop order.
struct Peers {
    nve: IkeNve,
    charon: Charon,
    t: Topology,
    _ca: Option<TestCa>,
    ss_dir: tempfile::TempDir,
    nve_ip: String,
    ss_ip: String,
}

fn swanctl_conf(auth: Auth, nve_ip: &str, ss_ip: &str) -> String {
    let (method, certs, secrets) = match auth {
        Auth::Psk => (
            "psk",
            "",
            format!(
                "secrets {{\n ike-nve {{\n id-a = {SS_ID}\n id-b = {NVE_ID}\n secret = \"{PSK}\"\n }}\n}}\n"
            ),
        ),
        Auth::Cert(_) => ("pubkey", "certs = ss.example.pem", String::new()),
    };
    // childless = force for certificates: strongSwan must not even offer a CHILD_SA.
    let childless = if auth == Auth::Psk { "allow" } else { "force" };
    format!(
        "connections {{\n nve {{\n version = 2\n local_addrs = {ss_ip}\n remote_addrs = {nve_ip}\n \
         proposals = aes256gcm16-prfsha256-x25519\n childless = {childless}\n rekey_time = 0\n \
         local {{\n auth = {method}\n id = {SS_ID}\n {certs}\n }}\n \
         remote {{\n auth = {method}\n id = {NVE_ID}\n }}\n }}\n}}\n{secrets}"
    )
}

impl Peers {
    fn new(auth: Auth) -> Peers {
        require_root();
        let t = Topology::build("bridge 2").unwrap();
        let (nve_ip, ss_ip) = (t.nve(0).addr.to_string(), t.nve(1).addr.to_string());
        let ss_dir = tempfile::tempdir().unwrap();
        let dir = nve_dir();
        let ca = match auth {
            Auth::Psk => None,
            Auth::Cert(kind) => {
                let ca = TestCa::new("scenario3 CA", kind).unwrap();
                ca.enroll(NVE_ID, &dir).unwrap();
                ca.enroll(SS_ID, ss_dir.path()).unwrap();
                Some(ca)
            }
        };
        std::fs::write(
            ss_dir.path().join("swanctl.conf"),
            swanctl_conf(auth, &nve_ip, &ss_ip),
        )
        .unwrap();
        let charon = Charon::start(&t.nve(1).ns, ss_dir.path(), "").unwrap();
        charon.load_all().unwrap();
        let mut conn = Conn::new("ss", &nve_ip, Some(&ss_ip), (NVE_ID, SS_ID));
        if auth != Auth::Psk {
            conn = conn.pubkey(&format!("{NVE_ID}.pem"));
        }
        // A GSA child is configured: strongSwan has no Vendor ID, so it must never be
        // offered to it (docs/config.md `childless`).
        conn = conn.extra("    children {\n      net {\n        vnis = 100\n      }\n    }");
        let psks: &[(&str, &str)] = if auth == Auth::Psk {
            &[(SS_ID, PSK)]
        } else {
            &[]
        };
        let nve = IkeNve::start(
            &t.nve(0).ns,
            "nvesecd",
            dir,
            &render_conf(&[conn], psks, ""),
        )
        .unwrap();
        Peers {
            nve,
            charon,
            t,
            _ca: ca,
            ss_dir,
            nve_ip,
            ss_ip,
        }
    }

    fn swanctl(&self, args: &[&str]) -> String {
        let out = self.charon.swanctl(args).unwrap_or_else(|e| {
            panic!("swanctl {args:?}: {e}\ncharon log:\n{}", self.charon.log())
        });
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn logs(&self) -> String {
        format!(
            "--- charon ---\n{}\n--- nvesecd ---\n{}",
            self.charon.log(),
            self.nve.log()
        )
    }

    fn wait_charon_log(&self, needle: &str, times: usize) {
        let end = Instant::now() + WAIT;
        while self.charon.log().matches(needle).count() < times {
            assert!(
                Instant::now() < end,
                "charon never logged {needle:?} {times}x\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until both ends list exactly one established SA, the same one, other than every
    /// SA in `not` (the SAs a rekey or delete replaced). Returns nvesecd's listing and
    /// charon's unique id of the SA.
    fn wait_one_sa(&self, what: &str, not: &[(String, String)]) -> (Value, u64) {
        let end = Instant::now() + WAIT;
        loop {
            let sas = self.nve.sas();
            let ss = listed(&self.swanctl(&["--list-sas"]));
            if let (Some(sa), [(uid, spi_i, spi_r, _)]) = (established(&sas, "ss"), ss.as_slice()) {
                let ours = spis(sa);
                if sas.len() == 1 && ours == (spi_i.clone(), spi_r.clone()) && !not.contains(&ours)
                {
                    return (sa.clone(), *uid);
                }
            }
            assert!(
                Instant::now() < end,
                "{what}: nvesecd {sas:?}\nswanctl {ss:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_none(&self, what: &str) {
        let end = Instant::now() + WAIT;
        loop {
            let sas = self.nve.sas();
            let ss = self.swanctl(&["--list-sas"]);
            if sas.is_empty() && !ss.contains("nve: #") {
                return;
            }
            assert!(
                Instant::now() < end,
                "{what}: nvesecd {sas:?}\nswanctl {ss}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The SA as both sides list it: identities, addresses, suite, initiator, no child.
    fn check_sa(&self, sa: &Value, uid: u64, ss_initiated: bool) {
        assert_eq!(sa["local_id"], NVE_ID, "{sa}");
        assert_eq!(sa["remote_id"], SS_ID, "{sa}");
        assert_eq!(sa["local_addr"], self.nve_ip.as_str(), "{sa}");
        assert_eq!(sa["remote_addr"], self.ss_ip.as_str(), "{sa}");
        assert_eq!(sa["proposal"], SUITE, "{sa}");
        assert_eq!(sa["initiator"], !ss_initiated, "{sa}");
        assert_eq!(sa["children"].as_array().map(Vec::len), Some(0), "{sa}");
        let out = self.swanctl(&["--list-sas"]);
        let l = listed(&out);
        assert_eq!(l.len(), 1, "{out}");
        assert_eq!(l[0].0, uid, "{out}");
        assert_eq!(l[0].3, ss_initiated, "strongSwan's SPI is SPIi: {out}");
        assert!(
            out.contains(&format!("local  '{SS_ID}' @ {}[500]", self.ss_ip)),
            "{out}"
        );
        assert!(
            out.contains(&format!("remote '{NVE_ID}' @ {}[500]", self.nve_ip)),
            "{out}"
        );
        assert!(out.contains(&format!("\n  {SUITE}\n")), "{out}");
        assert!(!out.contains("INSTALLED"), "childless, yet: {out}");
    }
}

/// `(unique id, SPIi, SPIr, strongSwan holds SPIi)` of every `nve` IKE SA in `swanctl
/// --list-sas` (`nve: #3, ESTABLISHED, IKEv2, 1a2b..._i* 3c4d..._r`; `*` marks strongSwan's
/// own SPI).
fn listed(out: &str) -> Vec<(u64, String, String, bool)> {
    out.lines()
        .filter(|l| l.starts_with("nve: #") && l.contains("ESTABLISHED, IKEv2"))
        .filter_map(|l| {
            let uid = l["nve: #".len()..].split(',').next()?.parse().ok()?;
            let mut words = l.split_whitespace().rev();
            let r = words.next()?;
            let i = words.next()?;
            let spi_i = i.strip_suffix("_i*").or_else(|| i.strip_suffix("_i"))?;
            let spi_r = r.strip_suffix("_r*").or_else(|| r.strip_suffix("_r"))?;
            Some((uid, spi_i.to_string(), spi_r.to_string(), i.ends_with('*')))
        })
        .collect()
}

/// charon's line for a rekeyed IKE SA (both as rekey initiator and responder).
fn rekeyed_line(p: &Peers, uid: u64) -> String {
    format!(
        "IKE_SA nve[{uid}] rekeyed between {}[{SS_ID}]...{}[{NVE_ID}]",
        p.ss_ip, p.nve_ip
    )
}

/// Initiate, rekey from each side and delete, once started by nvesecd and once by strongSwan.
/// Returns the number of IKE SAs both ends agreed on.
fn full_cycle(p: &Peers, auth: Auth) -> usize {
    let method = auth.charon_method();
    let mut seen: Vec<(String, String)> = Vec::new();

    // 1. nvesecd initiates (nvesecctl waits until the IKE SA is up).
    let out = p.nve.ctl(&["--initiate", "--ike", "ss"]).unwrap();
    assert!(out.contains("IKE_SA established successfully"), "{out}");
    let (sa, uid) = p.wait_one_sa("nvesecd initiated", &seen);
    p.check_sa(&sa, uid, false);
    p.wait_charon_log(
        &format!(
            "IKE_SA nve[{uid}] established between {}[{SS_ID}]...{}[{NVE_ID}]",
            p.ss_ip, p.nve_ip
        ),
        1,
    );
    p.wait_charon_log(
        &format!("authentication of '{NVE_ID}' with {method} successful"),
        1,
    );
    seen.push(spis(&sa));

    // The configured GSA child cannot ride on a plain IKEv2 peer's SA: refused locally
    // (no CREATE_CHILD_SA reaches strongSwan), the IKE SA stays.
    let err = p
        .nve
        .ctl(&["--initiate", "--child", "net", "--timeout", "3"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("did not announce the GSA extension"), "{err}");
    assert!(!p.charon.log().contains("CREATE_CHILD_SA"), "{}", p.logs());
    let (same, _) = p.wait_one_sa("after refused child", &[]);
    assert_eq!(spis(&same), spis(&sa));

    // 2. IKE SA rekey by nvesecd (RFC 7296 §2.18): new SPIs on both ends, the old SA gone.
    let out = p.nve.ctl(&["--rekey", "--ike", "ss"]).unwrap();
    assert!(out.contains("rekey of IKE_SA"), "{out}");
    let (sa2, uid2) = p.wait_one_sa("rekeyed by nvesecd", &seen);
    p.check_sa(&sa2, uid2, false);
    assert_ne!(uid2, uid);
    p.wait_charon_log(
        &format!("IKE_SA nve[{uid}] state change: ESTABLISHED => REKEYED"),
        1,
    );
    p.wait_charon_log(&rekeyed_line(p, uid2), 1);
    p.wait_charon_log(&format!("received DELETE for IKE_SA nve[{uid}]"), 1);
    seen.push(spis(&sa2));

    // 3. IKE SA rekey by strongSwan: its SPI becomes SPIi of the new SA.
    p.swanctl(&["--rekey", "--ike", "nve"]);
    let (sa3, uid3) = p.wait_one_sa("rekeyed by strongSwan", &seen);
    p.check_sa(&sa3, uid3, true);
    p.wait_charon_log(
        &format!("IKE_SA nve[{uid2}] state change: ESTABLISHED => REKEYING"),
        1,
    );
    p.wait_charon_log(&rekeyed_line(p, uid3), 1);
    p.wait_charon_log(&format!("sending DELETE for IKE_SA nve[{uid2}]"), 1);
    p.nve
        .wait_log(&format!("rekeyed, was [{}]", sa2["uid"]), WAIT);
    seen.push(spis(&sa3));

    // 4. Delete from nvesecd.
    let out = p.nve.ctl(&["--terminate", "--ike", "ss"]).unwrap();
    assert!(out.contains("terminate"), "{out}");
    p.wait_none("deleted by nvesecd");
    p.wait_charon_log(&format!("received DELETE for IKE_SA nve[{uid3}]"), 1);

    // 5. strongSwan initiates (childless), rekeys, and deletes.
    p.swanctl(&["--initiate", "--ike", "nve"]);
    let (sa4, uid4) = p.wait_one_sa("strongSwan initiated", &seen);
    p.check_sa(&sa4, uid4, true);
    p.wait_charon_log(
        &format!(
            "IKE_SA nve[{uid4}] established between {}[{SS_ID}]...{}[{NVE_ID}]",
            p.ss_ip, p.nve_ip
        ),
        1,
    );
    p.wait_charon_log(
        &format!("authentication of '{NVE_ID}' with {method} successful"),
        2,
    );
    seen.push(spis(&sa4));
    p.swanctl(&["--rekey", "--ike", "nve"]);
    let (sa5, uid5) = p.wait_one_sa("strongSwan initiated, rekeyed by strongSwan", &seen);
    p.check_sa(&sa5, uid5, true);
    p.wait_charon_log(&rekeyed_line(p, uid5), 1);
    seen.push(spis(&sa5));
    let out = p.nve.ctl(&["--rekey", "--ike", "ss"]).unwrap();
    assert!(out.contains("rekey of IKE_SA"), "{out}");
    let (sa6, uid6) = p.wait_one_sa("strongSwan initiated, rekeyed by nvesecd", &seen);
    p.check_sa(&sa6, uid6, false);
    p.wait_charon_log(&rekeyed_line(p, uid6), 1);
    seen.push(spis(&sa6));
    p.swanctl(&["--terminate", "--ike", "nve"]);
    p.wait_none("deleted by strongSwan");
    p.wait_charon_log(&format!("sending DELETE for IKE_SA nve[{uid6}]"), 1);
    p.nve.wait_log("received DELETE", WAIT);

    // Every SA had its own SPIs; nothing failed on either side.
    let mut uniq = seen.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), seen.len(), "{seen:?}");
    assert!(
        !p.charon.log().contains("AUTHENTICATION_FAILED"),
        "{}",
        p.logs()
    );
    assert!(
        !p.nve.log().contains("authentication failed"),
        "{}",
        p.logs()
    );
    let d = p.nve.drops();
    assert_eq!(d.get("ike_malformed_header"), Some(&0), "{d:?}");
    assert_eq!(d.get("ike_unknown_spi"), Some(&0), "{d:?}");
    seen.len()
}

fn scenario(name: &str, auth: Auth) {
    let mut sc = Scenario::start(name);
    let p = Peers::new(auth);
    let started = Instant::now();
    sc.figure("setting up");
    let n = full_cycle(&p, auth);
    let _ = (&p.t, &p.ss_dir);
    sc.pass(format!(
        "{n} childless IKE SAs (2 initiations, 4 rekeys) agreed with charon in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
}

#[test]
fn strongswan_psk_initiate_rekey_delete_from_each_side() {
    scenario("strongswan-psk", Auth::Psk);
}

#[test]
fn strongswan_ed25519_certificates_from_nvesec_pki() {
    scenario("strongswan-ed25519", Auth::Cert(KeyKind::Ed25519));
}

#[test]
fn strongswan_ecdsa_p256_certificates_from_nvesec_pki() {
    scenario("strongswan-ecdsa", Auth::Cert(KeyKind::EcdsaP256));
}
