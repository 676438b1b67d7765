//! Issue 7 scenario 9: wrong credentials on the real daemons. A `bridge 6` topology: nve0 is
//! the NVE under test, nve1..nve4 each hold one wrong credential, nve5 is a witness with a
//! GSA to nve0 that carries pings the whole time:
//!
//! | NVE | its credential | nve0 expects |
//! |---|---|---|
//! | nve1 | certificate from another CA (it trusts nve0's CA) | a certificate from nve0's CA |
//! | nve2 | certificate from nve0's CA, valid only in 2020 | a valid one |
//! | nve3 | valid certificate from nve0's CA, but for `mallory.example` | identity `nve3.example` |
//! | nve4 | PSK "wrong" | PSK "right" |
//!
//! Each wrong NVE initiates to nve0, then nve0 initiates to it. Every attempt must end with no
//! SA on either side, `nvesecctl --initiate` failing with the reason, a log line naming the
//! reason on the side that detected it, and nothing else disturbed: nve0's SA with nve5 keeps
//! its SPIs and GSA-IDs and loses no ping.
//!
//! Run as root: `cargo test -p nvesec-interop --test scenario_credentials -- --test-threads=1`.

mod support_ike;

use std::time::{Duration, Instant};

use nvesec_interop::require_root;
use nvesec_interop::topology::{Scenario, Topology};
use serde_json::Value;
use support_ike::{nve_dir, render_conf, spis, Conn, IkeNve, KeyKind, TestCa};

const WAIT: Duration = Duration::from_secs(10);
const VNI: u32 = 100;

fn id(k: usize) -> String {
    format!("nve{k}.example")
}

/// The tenant network between nve0 (172.16.0.1) and the witness nve5 (172.16.0.6), secured
/// by connection `conn`'s child `net`.
fn witness_tail(me: usize, peer: usize, peer_addr: &str, conn: &str) -> String {
    format!(
        r#"overlay {{
  networks {{
    tenant {{
      vni = {VNI}
      device = tun
      ifname = nvt0
      address = 172.16.0.{a}/24
      peers {{
        nve{peer} {{
          underlay = {peer_addr}
          prefixes = 172.16.0.{b}/32
        }}
      }}
    }}
  }}
}}
policies {{
  tenant-out {{
    direction = out
    vnis = {VNI}
    action = secure
    gsas = {conn}.net
  }}
  tenant-in {{
    direction = in
    vnis = {VNI}
    action = secure
    gsas = {conn}.net
  }}
}}
"#,
        a = me + 1,
        b = peer + 1,
    )
}

const WITNESS_CHILD: &str =
    "    children {\n      net {\n        vnis = 100\n        start_action = trap\n      }\n    }";

/// One wrong credential: which NVE holds it and the reason the checking side must name.
struct Case {
    k: usize,
    what: &'static str,
    /// What the side that checks the wrong credential logs (and nvesecctl reports).
    reason: &'static str,
    /// The PSK case: whoever responds detects it (each side refuses the other's AUTH).
    psk: bool,
}

const CASES: [Case; 4] = [
    Case {
        k: 1,
        what: "certificate from another CA",
        reason: "certificate chain does not verify",
        psk: false,
    },
    Case {
        k: 2,
        what: "expired certificate",
        reason: "certificate expired or not yet valid",
        psk: false,
    },
    Case {
        k: 3,
        what: "wrong identity",
        reason: "peer identity not accepted by the connection",
        psk: false,
    },
    Case {
        k: 4,
        what: "wrong PSK",
        reason: "AUTH payload does not verify",
        psk: true,
    },
];

struct Site {
    nves: Vec<IkeNve>,
    t: Topology,
    _cas: (TestCa, TestCa),
}

impl Site {
    fn new() -> Site {
        require_root();
        let t = Topology::build("bridge 6").unwrap();
        let addr = |k: usize| t.nve(k).addr.to_string();
        let good = TestCa::new("scenario9 CA", KeyKind::Ed25519).unwrap();
        let rogue = TestCa::new("rogue CA", KeyKind::Ed25519).unwrap();
        let dirs: Vec<_> = (0..6).map(|_| nve_dir()).collect();
        good.enroll(&id(0), &dirs[0]).unwrap();
        // nve1: its certificate from the rogue CA, but it trusts nve0's CA (so only nve0 can
        // be the one that refuses).
        rogue.enroll(&id(1), &dirs[1]).unwrap();
        std::fs::copy(&good.cert, dirs[1].join("x509ca/ca.pem")).unwrap();
        good.enroll_expired(&id(2), &dirs[2]).unwrap();
        good.enroll("mallory.example", &dirs[3]).unwrap();
        good.enroll(&id(5), &dirs[5]).unwrap();

        let cert0 = format!("{}.pem", id(0));
        let mut conns0: Vec<Conn> = (1..=5)
            .map(|k| {
                let c = Conn::new(&format!("c{k}"), &addr(0), Some(&addr(k)), (&id(0), &id(k)));
                if k == 4 {
                    c
                } else {
                    c.pubkey(&cert0)
                }
            })
            .collect();
        conns0[4] = conns0[4].clone().extra(WITNESS_CHILD);
        let id4 = id(4);
        let conf0 = render_conf(
            &conns0,
            &[(id4.as_str(), "right")],
            &witness_tail(0, 5, &addr(5), "c5"),
        );
        let peer_conf = |k: usize| {
            let local_id = if k == 3 {
                "mallory.example".to_string()
            } else {
                id(k)
            };
            let c = Conn::new("c0", &addr(k), Some(&addr(0)), (&local_id, &id(0)));
            match k {
                4 => render_conf(&[c], &[(&id(0), "wrong")], ""),
                5 => render_conf(
                    &[c.pubkey(&format!("{}.pem", id(5))).extra(WITNESS_CHILD)],
                    &[],
                    &witness_tail(5, 0, &addr(0), "c0"),
                ),
                _ => render_conf(&[c.pubkey(&format!("{local_id}.pem"))], &[], ""),
            }
        };
        let mut nves = Vec::new();
        for (k, dir) in dirs.into_iter().enumerate() {
            let conf = if k == 0 { conf0.clone() } else { peer_conf(k) };
            nves.push(IkeNve::start(&t.nve(k).ns, &format!("nve{k}"), dir, &conf).unwrap());
        }
        Site {
            nves,
            t,
            _cas: (good, rogue),
        }
    }

    /// `ping -c COUNT -i INTERVAL -W 1` from nve5 to nve0's tenant address: (sent, received).
    fn ping(&self, count: u32, interval: &str) -> (u32, u32, String) {
        let out = self
            .t
            .nve(5)
            .ns
            .command("ping")
            .args([
                "-c",
                &count.to_string(),
                "-i",
                interval,
                "-W",
                "1",
                "172.16.0.1",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let summary = text
            .lines()
            .find(|l| l.contains("transmitted"))
            .unwrap_or_default();
        let num = |w: &str| {
            summary
                .split(',')
                .find(|p| p.contains(w))
                .and_then(|p| p.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        (num("transmitted"), num("received"), text)
    }
}

/// The witness SA as nve0 lists it: uid, SPIs, inbound and outbound GSA-IDs.
type Witness = (Value, (String, String), (String, String));

fn witness(sas: &[Value]) -> Option<Witness> {
    let sa = sas.iter().find(|s| s["name"] == "c5")?;
    let c = sa["children"].as_array()?.first()?;
    (sa["state"] == "ESTABLISHED" && c["state"] == "INSTALLED").then(|| {
        (
            sa["uid"].clone(),
            spis(sa),
            (
                c["gsa_id_in"].as_str().unwrap_or_default().to_string(),
                c["gsa_id_out"].as_str().unwrap_or_default().to_string(),
            ),
        )
    })
}

/// No SA of `conn` on `nve` (waits: a responder may hold one until the initiator's
/// AUTHENTICATION_FAILED arrives).
fn no_sa(nve: &IkeNve, conn: &str) {
    nve.wait_sas(&format!("no SA of {conn}"), WAIT, |s| {
        s.iter().all(|sa| sa["name"] != conn)
    });
}

/// `nve` logged an "authentication failed" line for connection `conn` naming `reason`.
fn logged_reason(nve: &IkeNve, conn: &str, reason: &str) {
    let end = Instant::now() + WAIT;
    loop {
        let log = nve.log();
        if log.lines().any(|l| {
            l.contains(&format!("<{conn}|"))
                && l.contains("authentication failed")
                && l.contains(reason)
        }) {
            return;
        }
        assert!(
            Instant::now() < end,
            "{}: no 'authentication failed' line for {conn} naming {reason:?}; log:\n{log}",
            nve.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The wrong NVE initiates, then nve0 does; both attempts fail for `case.reason`.
fn attempt(site: &Site, case: &Case) {
    let (nve0, bad) = (&site.nves[0], &site.nves[case.k]);
    let conn0 = format!("c{}", case.k);

    // 1. The wrong NVE initiates: nve0, the responder, detects the wrong credential.
    let err = bad
        .ctl(&["--initiate", "--ike", "c0", "--timeout", "5"])
        .expect_err("an SA with a wrong credential")
        .to_string();
    assert!(
        err.contains("authentication failed"),
        "{}: {err}",
        case.what
    );
    no_sa(bad, "c0");
    no_sa(nve0, &conn0);
    logged_reason(nve0, &conn0, case.reason);
    // The initiator learns only that it was refused (RFC 7296 §2.21.2 gives no reason).
    logged_reason(bad, "c0", "AUTHENTICATION_FAILED");

    // 2. nve0 initiates: the wrong NVE's credential is checked by nve0 as initiator (it
    //    then tells the responder with N(AUTHENTICATION_FAILED)); with a PSK the responder
    //    refuses nve0's AUTH, each side computing its own.
    let err = nve0
        .ctl(&["--initiate", "--ike", &conn0, "--timeout", "5"])
        .expect_err("an SA with a wrong credential")
        .to_string();
    no_sa(nve0, &conn0);
    no_sa(bad, "c0");
    if case.psk {
        assert!(
            err.contains("AUTHENTICATION_FAILED"),
            "{}: {err}",
            case.what
        );
        logged_reason(bad, "c0", case.reason);
    } else {
        assert!(err.contains(case.reason), "{}: {err}", case.what);
        let n = nve0
            .log()
            .lines()
            .filter(|l| {
                l.contains(&format!("<{conn0}|"))
                    && l.contains("authentication failed")
                    && l.contains(case.reason)
            })
            .count();
        assert!(
            n >= 2,
            "nve0 logged the reason for both attempts:\n{}",
            nve0.log()
        );
    }
}

#[test]
fn wrong_credentials_give_no_sa_a_logged_reason_and_disturb_nothing() {
    let mut sc = Scenario::start("credentials");
    let site = Site::new();
    // The witness GSA, up before anything goes wrong.
    let out = site.nves[5]
        .ctl(&["--initiate", "--child", "net", "--timeout", "10"])
        .unwrap();
    assert!(out.contains("established successfully"), "{out}");
    let (tx, rx, text) = site.ping(3, "0.2");
    assert_eq!((tx, rx), (3, 3), "{text}");
    let before = witness(&site.nves[0].sas()).expect("witness SA on nve0");

    let started = Instant::now();
    let failures = std::thread::scope(|s| {
        let pinger = s.spawn(|| site.ping(60, "0.05"));
        std::thread::sleep(Duration::from_millis(200));
        for case in &CASES {
            attempt(&site, case);
            sc.figure(format!("{} refused", case.what));
        }
        let (tx, rx, text) = pinger.join().unwrap();
        assert_eq!((tx, rx), (60, 60), "witness pings lost:\n{text}");
        CASES.len() * 2
    });
    let took = started.elapsed();

    // nve0 holds exactly the witness SA, unchanged.
    let sas = site.nves[0].sas();
    assert_eq!(sas.len(), 1, "{sas:?}");
    let after = witness(&sas).expect("witness SA on nve0");
    assert_eq!(after, before, "the witness SA was disturbed");
    for k in 1..=4 {
        assert!(
            site.nves[k].sas().is_empty(),
            "nve{k}: {:?}",
            site.nves[k].sas()
        );
    }
    sc.pass(format!(
        "{failures} refused attempts (other CA, expired, wrong ID, wrong PSK; each side \
         initiating) in {:.1}s, 0 SAs; witness 60/60 pings, SA unchanged",
        took.as_secs_f64()
    ));
}
