//! nvesecd end to end: two namespaces on a veth, gsa-dp and nvesecd in each (interop/src/nve.rs),
//! certificates from one CA (or a PSK), a trap policy for VNI 100. Tenant traffic brings the
//! IKE SA and the GSAs up; nvesecctl shows them from live state; the underlay carries only
//! secured Geneve; terminate, reload, restart and SIGTERM behave as docs/daemon.md says.

use std::time::Duration;

use nvesec_interop::dataplane::{contains, json_u64, Capture, GsaDp};
use nvesec_interop::nve::{Auth, NveConfig, NvePair};
use nvesec_interop::{require_root, Netns};
use serde_json::Value;

const VNI: u32 = 100;
/// "nvesec-marker!!!" as a ping -p pattern.
const MARKER: &[u8] = b"nvesec-marker!!!";
const STATS: &str = r#"{"v":1,"seq":90,"op":"STATS"}"#;
const DUMP: &str = r#"{"v":1,"seq":91,"op":"DUMP"}"#;

fn marker_hex() -> String {
    MARKER.iter().map(|b| format!("{b:02x}")).collect()
}

/// (transmitted, received, output).
fn ping(ns: &Netns, dst: &str, count: u32, interval: &str) -> (u64, u64, String) {
    let out = ns
        .command("ping")
        .args(["-c", &count.to_string(), "-i", interval, "-W", "2"])
        .args(["-p", &marker_hex(), dst])
        .output()
        .expect("run ping");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let num = |word: &str| {
        text.lines()
            .find(|l| l.contains(word))
            .and_then(|l| {
                l.split(',')
                    .find(|p| p.contains(word))
                    .and_then(|p| p.split_whitespace().next())
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0)
    };
    (num("transmitted"), num("received"), text)
}

fn one_sa(sas: &[Value]) -> bool {
    sas.len() == 1
        && sas[0]["state"] == "ESTABLISHED"
        && sas[0]["children"]
            .as_array()
            .is_some_and(|c| c.len() == 1 && c[0]["state"] == "INSTALLED")
}

fn gsa_ids(sa: &Value) -> (String, String) {
    let c = &sa["children"][0];
    (
        c["gsa_id_in"].as_str().unwrap_or_default().to_string(),
        c["gsa_id_out"].as_str().unwrap_or_default().to_string(),
    )
}

fn dp_line(dp: &GsaDp, line: &str) -> String {
    dp.client().unwrap().ok(line).unwrap()
}

fn logs(p: &NvePair) -> String {
    format!("--- A ---\n{}\n--- B ---\n{}", p.a.log(), p.b.log())
}

/// Bring the SAs up with a ping and check both sides' listings; returns A's and B's SA.
fn up_by_traffic(p: &NvePair) -> (Value, Value) {
    for n in [&p.a, &p.b] {
        assert!(n.wait_sas(Duration::from_secs(1), |s| s.is_empty()).is_ok());
    }
    let (tx, rx, text) = ping(&p.ns_a, "172.16.0.2", 5, "0.2");
    // The first request waits in gsa-dp's hold queue (3 s) while IKE runs; all arrive.
    assert_eq!((tx, rx), (5, 5), "{text}\n{}", logs(p));
    let sa_a =
        p.a.wait_sas(Duration::from_secs(5), one_sa)
            .unwrap()
            .remove(0);
    let sa_b =
        p.b.wait_sas(Duration::from_secs(5), one_sa)
            .unwrap()
            .remove(0);
    for (sa, me, peer) in [(&sa_a, "nve-a", "nve-b"), (&sa_b, "nve-b", "nve-a")] {
        assert_eq!(sa["name"], NveConfig::CONN);
        assert_eq!(sa["local_id"], me);
        assert_eq!(sa["remote_id"], peer);
        assert_eq!(sa["children"][0]["name"], NveConfig::CHILD);
    }
    assert_eq!(sa_a["initiator"], true, "A's ACQUIRE started it");
    assert_eq!(sa_b["initiator"], false);
    assert_eq!(sa_a["spi_i"], sa_b["spi_i"]);
    assert_eq!(sa_a["spi_r"], sa_b["spi_r"]);
    let (a_in, a_out) = gsa_ids(&sa_a);
    let (b_in, b_out) = gsa_ids(&sa_b);
    assert_eq!(a_in, b_out, "A's inbound GSA-ID is B's outbound");
    assert_eq!(a_out, b_in, "A's outbound GSA-ID is B's inbound");
    assert_ne!(a_in, a_out);
    (sa_a, sa_b)
}

#[test]
fn cert_trap_ping_brings_sas_up_secured_and_terminate_removes_them() {
    require_root();
    let p = NvePair::new(VNI, Auth::Cert, "trap").unwrap();
    let cap = Capture::start(&p.ns_a, &p.veth_a, 6081).unwrap();
    let (sa_a, _) = up_by_traffic(&p);
    let (bytes, udp) = cap.stop().unwrap();
    assert!(udp >= 10, "5 requests + 5 replies on UDP 6081, saw {udp}");
    assert!(
        !contains(&bytes, MARKER),
        "tenant payload crossed the underlay in clear"
    );
    // The counters in list-sas come from gsa-dp's DUMP.
    let c = &sa_a["children"][0];
    assert!(c["packets_out"].as_u64().unwrap() >= 5, "{sa_a}");
    assert!(c["packets_in"].as_u64().unwrap() >= 5, "{sa_a}");
    assert_eq!(
        sa_a["proposal"],
        "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519"
    );
    for n in [&p.a, &p.b] {
        let s = dp_line(&n.dp, STATS);
        assert!(json_u64(&s, "sent_secured").unwrap() >= 5, "{s}");
        assert_eq!(json_u64(&s, "sent_bypass"), Some(0), "{s}");
        assert_eq!(json_u64(&s, "bad_icv"), Some(0), "{s}");
    }
    // Text listing as an operator sees it.
    let text = p.a.ctl(&["--list-sas"]).unwrap();
    assert!(
        text.contains("ESTABLISHED") && text.contains("INSTALLED"),
        "{text}"
    );
    let counters = p.a.ctl_json(&["--counters"]).unwrap();
    assert_eq!(
        counters["gsas"].as_array().map(Vec::len),
        Some(2),
        "{counters}"
    );
    // No key material in the daemon's log.
    assert!(!p.a.log().contains("key_material") && !p.a.log().contains("\"key\""));

    let out = p.a.ctl(&["--terminate", "--ike", NveConfig::CONN]).unwrap();
    assert!(out.contains("terminate"), "{out}");
    for n in [&p.a, &p.b] {
        n.wait_sas(Duration::from_secs(5), |s| s.is_empty())
            .unwrap();
        let d = dp_line(&n.dp, DUMP);
        assert!(d.contains("\"gsas\":[]"), "GSAs left in gsa-dp: {d}");
    }
    // --initiate from B waits until the GSA is up (the control server's deferred answer).
    let out =
        p.b.ctl(&["--initiate", "--child", NveConfig::CHILD])
            .unwrap();
    assert!(
        out.contains("established successfully"),
        "{out}\n{}",
        logs(&p)
    );
    for n in [&p.a, &p.b] {
        n.wait_sas(Duration::from_secs(5), one_sa).unwrap();
    }
    let sa_b =
        p.b.wait_sas(Duration::from_secs(1), one_sa)
            .unwrap()
            .remove(0);
    assert_eq!(sa_b["initiator"], true);
    let (_, rx, text) = ping(&p.ns_a, "172.16.0.2", 3, "0.2");
    assert_eq!(rx, 3, "{text}");
}

#[test]
fn psk_trap_ping_and_sigterm_deletes_the_sas_with_the_peer() {
    require_root();
    let mut p = NvePair::new(
        VNI,
        Auth::Psk("0sbnZlc2VjLXRlc3QtcHNrLTEyMzQ=".into()),
        "trap",
    )
    .unwrap();
    up_by_traffic(&p);
    p.a.signal("TERM").unwrap();
    assert_eq!(
        p.a.wait_exit(Duration::from_secs(5)),
        Some(0),
        "{}",
        logs(&p)
    );
    // A told B: B's SAs are gone without waiting for DPD.
    p.b.wait_sas(Duration::from_secs(3), |s| s.is_empty())
        .unwrap();
    let d = dp_line(&p.a.dp, DUMP);
    assert!(d.contains("\"gsas\":[]"), "A left GSAs behind: {d}");
}

#[test]
fn a_reload_with_errors_is_refused_and_the_state_kept() {
    require_root();
    let p = NvePair::new(VNI, Auth::Cert, "trap").unwrap();
    let (sa_a, _) = up_by_traffic(&p);
    let good = p.a.cfg.render();
    p.a.write_config(&good.replace(&format!("vnis = {VNI}"), "vnis = banana"))
        .unwrap();
    let err = p.a.ctl(&["--load-all"]).unwrap_err().to_string();
    assert!(err.contains("vnis: 'banana'"), "{err}");
    p.a.signal("HUP").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(p.a.log().contains("reload refused"), "{}", p.a.log());
    let now =
        p.a.wait_sas(Duration::from_secs(1), one_sa)
            .unwrap()
            .remove(0);
    assert_eq!(now["uid"], sa_a["uid"]);
    assert_eq!(gsa_ids(&now), gsa_ids(&sa_a));
    let (_, rx, text) = ping(&p.ns_a, "172.16.0.2", 3, "0.2");
    assert_eq!(rx, 3, "{text}");
    // A good reload without changes touches nothing.
    p.a.write_config(&good).unwrap();
    let out = p.a.ctl(&["--load-all"]).unwrap();
    assert!(out.contains("0 connections"), "{out}");
    let again =
        p.a.wait_sas(Duration::from_secs(1), one_sa)
            .unwrap()
            .remove(0);
    assert_eq!(gsa_ids(&again), gsa_ids(&sa_a));
}

#[test]
fn restarted_nvesecd_replaces_the_gsas_without_a_gap() {
    require_root();
    let mut p = NvePair::new(VNI, Auth::Cert, "trap").unwrap();
    let (sa_a, _) = up_by_traffic(&p);
    let old = gsa_ids(&sa_a);
    let ns_a = &p.ns_a;
    std::thread::scope(|s| {
        let pinger = s.spawn(|| ping(ns_a, "172.16.0.2", 100, "0.05"));
        std::thread::sleep(Duration::from_millis(500));
        p.a.kill_daemon();
        std::thread::sleep(Duration::from_millis(500));
        p.a.start_daemon(ns_a).unwrap();
        let (tx, rx, text) = pinger.join().unwrap();
        assert_eq!((tx, rx), (100, 100), "{text}\n{}", p.a.log());
    });
    let sa =
        p.a.wait_sas(Duration::from_secs(5), one_sa)
            .unwrap()
            .remove(0);
    let new = gsa_ids(&sa);
    assert_ne!(new.0, old.0, "new GSAs were negotiated");
    assert_ne!(new.1, old.1);
    p.b.wait_sas(Duration::from_secs(5), |s| {
        one_sa(s) && gsa_ids(&s[0]) == (new.1.clone(), new.0.clone())
    })
    .unwrap();
    // The stale GSAs leave gsa-dp (the inbound one after the 5 s grace).
    let old_in = u64::from_str_radix(&old.0, 16).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    loop {
        let d = dp_line(&p.a.dp, DUMP);
        let ids: Vec<String> = d
            .match_indices("\"gsa_id\":")
            .map(|(i, _)| {
                d[i + 9..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect()
            })
            .collect();
        if !ids.contains(&old_in.to_string()) && ids.len() == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "stale GSAs stay: {d}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
