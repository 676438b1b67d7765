//! Issue 14 items 3 and 4: an enrolled but hostile NVE against real daemons (nvesecd + gsa-dp
//! per NVE) on an underlay bridge. The insider is the `ike-driver` (our engine with the
//! hostile-peer knobs `force_inbound_gsa_id` and a GSA without IP selectors) at nve3's
//! address, holding nve3's real PSK (one secret per pair).
//!
//! `insider-gsa-id` (item 4): nve1-nve2 carry traffic; the insider reads nve1's outbound
//! GSA-ID towards nve2 (in clear in every Geneve packet; here from nve1's listing), brings up
//! its own GSA with nve1 receiving on that same GSA-ID, then deletes its IKE SA. nve1 must keep
//! its GSA towards nve2 (listing and gsa-dp DUMP, same IDs) and nve1->nve2 pings must all
//! arrive without a new GSA.
//!
//! `insider-omitted-ts` (item 3): the insider's GSA request carries Geneve selectors only (no
//! IP TSi/TSr). nve1 must list that GSA with exactly the prefix its overlay routes to nve3
//! (172.16.100.3/32) as the remote inner selector, never "any".

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use nvesec_interop::ike_driver::{DriverAuth, DriverConfig, DriverConn, DriverGsa, DriverProcess};
use nvesec_interop::netns::scratch_dir;
use nvesec_interop::nve::Nve;
use nvesec_interop::require_root;
use nvesec_interop::topology::{ping_output, Scenario, Topology};
use serde_json::Value;

const DRIVER: &str = env!("CARGO_BIN_EXE_ike-driver");

fn name(k: usize) -> String {
    format!("nve{}", k + 1)
}

fn tenant(k: usize) -> String {
    format!("172.16.100.{}", k + 1)
}

/// The secret of the pair (a, b).
fn key(a: usize, b: usize) -> String {
    let (a, b) = (a.min(b), a.max(b));
    format!("key-of-{}-and-{}", name(a), name(b))
}

fn secret(a: usize, b: usize) -> String {
    let (a, b) = (a.min(b), a.max(b));
    format!(
        "  ike-{x}{y} {{\n    id-a = {na}\n    id-b = {nb}\n    secret = {k}\n  }}\n",
        x = a + 1,
        y = b + 1,
        na = name(a),
        nb = name(b),
        k = key(a, b)
    )
}

/// nvesec.conf of NVE `k` with connections to `peers` (as in scenario_insider.rs).
fn config(t: &Topology, k: usize, peers: &[usize]) -> String {
    let me = &t.nve(k).addr;
    let mut conns = String::new();
    let mut peers_text = String::new();
    let mut secrets_text = String::new();
    for &j in peers {
        conns += &format!(
            r#"
  {peer} {{
    local_addrs = {me}
    remote_addrs = {addr}
    local {{
      auth = psk
      id = {id}
    }}
    remote {{
      auth = psk
      id = {peer}
    }}
    children {{
      red {{
        vnis = 100
        start_action = trap
      }}
    }}
  }}"#,
            peer = name(j),
            addr = t.nve(j).addr,
            id = name(k),
        );
        peers_text += &format!(
            "\n        {} {{\n          underlay = {}\n          prefixes = {}/32\n        }}",
            name(j),
            t.nve(j).addr,
            tenant(j)
        );
        secrets_text += &secret(k, j);
    }
    format!(
        "connections {{{conns}\n}}\nsecrets {{\n{secrets_text}}}\noverlay {{\n  networks {{\n    red {{\n      vni = 100\n      device = tun\n      ifname = nvred\n      address = {}/24\n      peers {{{peers_text}\n      }}\n    }}\n  }}\n}}\npolicies {{\n  red-out {{\n    direction = out\n    vnis = 100\n    action = secure\n    gsas = red\n  }}\n  red-in {{\n    direction = in\n    vnis = 100\n    action = secure\n    gsas = red\n  }}\n}}\n",
        tenant(k)
    )
}

/// nve1 (peers nve2, nve3) and nve2 (peer nve1) up, nve1-nve2 SAs established by pings.
fn victims(t: &Topology) -> (Nve, Nve) {
    let n1 = Nve::start_text(&t.nve(0).ns, "nve1", &config(t, 0, &[1, 2]), None).unwrap();
    let n2 = Nve::start_text(&t.nve(1).ns, "nve2", &config(t, 1, &[0]), None).unwrap();
    let (rx, text) = ping_output(&t.nve(0).ns, &tenant(1), 2, 2);
    assert_eq!(rx, 2, "nve1 -> nve2: {text}\n{}\n{}", n1.log(), n2.log());
    (n1, n2)
}

/// The insider at nve3's address: nve3's identity and its real secret with nve1, one GSA on
/// VNI 100 with Geneve selectors only, optionally receiving on a forced GSA-ID.
fn insider(t: &Topology, force: Option<u32>) -> DriverProcess {
    let cfg = DriverConfig {
        listen: SocketAddr::new(t.nve(2).addr.into(), 500),
        cookie_threshold: None,
        fragment_mtu: None,
        half_open_timeout_ms: None,
        retransmit_timeout_ms: Some(1000),
        retransmit_tries: None,
        force_inbound_gsa_id: force,
        connections: vec![DriverConn {
            name: "nve1".into(),
            local_id: name(2),
            remote_id: name(0),
            remote_addrs: vec![t.nve(0).addr.into()],
            auth: DriverAuth::Psk { secret: key(0, 2) },
            childless: None,
            proposal: None,
            dpd_delay_secs: None,
            rekey_time_ms: None,
            gsa: Some(DriverGsa {
                name: "red".into(),
                vni_start: 100,
                vni_end: 100,
                local_prefixes: Vec::new(),
                remote_prefixes: Vec::new(),
            }),
        }],
    };
    let mut d = DriverProcess::spawn(
        &t.nve(2).ns,
        Path::new(DRIVER),
        &cfg,
        &scratch_dir("insider"),
        false,
    )
    .unwrap();
    d.command("initiate nve1").unwrap();
    d.wait_event(|e| e["event"] == "ike_sa_up", Duration::from_secs(10))
        .unwrap();
    d
}

fn sas(n: &Nve) -> Vec<Value> {
    n.ctl_json(&["--list-sas"]).unwrap()["sas"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The established IKE SA named `conn` with at least one GSA.
fn with_gsa<'a>(sas: &'a [Value], conn: &str) -> Option<&'a Value> {
    sas.iter().find(|sa| {
        sa["name"] == conn
            && sa["state"] == "ESTABLISHED"
            && sa["children"].as_array().is_some_and(|c| !c.is_empty())
    })
}

/// A GSA-ID as nvesecctl lists it (8 hex digits).
fn gsa_id(v: &Value) -> u64 {
    v.as_str()
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or_else(|| panic!("GSA-ID {v}"))
}

/// gsa-dp DUMP of `n`: its outbound GSAs as (gsa_id, peer).
fn dp_out(n: &Nve) -> Vec<(u64, String)> {
    let text =
        n.dp.client()
            .unwrap()
            .ok(r#"{"v":1,"seq":7,"op":"DUMP"}"#)
            .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let gsas = v["dump"]["gsas"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no gsas in DUMP: {text}"));
    gsas.iter()
        .filter(|g| g["dir"] == "out")
        .map(|g| {
            (
                g["gsa_id"].as_u64().unwrap_or_default(),
                g["peer"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn insider_gsa_id_collision_leaves_the_victims_gsa() {
    require_root();
    let mut sc = Scenario::start("insider-gsa-id");
    let t = Topology::build("bridge 3").unwrap();
    let (n1, n2) = victims(&t);
    let logs = || format!("--- nve1 ---\n{}\n--- nve2 ---\n{}", n1.log(), n2.log());
    let before = n1
        .wait_sas(Duration::from_secs(5), |s| with_gsa(s, "nve2").is_some())
        .unwrap();
    let victim = with_gsa(&before, "nve2").unwrap().clone();
    let victim_gsa = victim["children"][0].clone();
    let stolen = gsa_id(&victim_gsa["gsa_id_out"]);
    let nve2_addr = t.nve(1).addr.to_string();
    let nve3_addr = t.nve(2).addr.to_string();
    sc.figure(format!("nve1->nve2 up, nve1's outbound GSA-ID {stolen:#x}"));

    // The insider receives on the victim's GSA-ID: nve1 sends to it with that ID.
    let mut ins = insider(&t, Some(u32::try_from(stolen).unwrap()));
    let during = n1
        .wait_sas(Duration::from_secs(5), |s| with_gsa(s, "nve3").is_some())
        .unwrap_or_else(|e| panic!("insider GSA not listed on nve1: {e}\n{}", logs()));
    let insider_out = gsa_id(&with_gsa(&during, "nve3").unwrap()["children"][0]["gsa_id_out"]);
    let dp_during = dp_out(&n1);
    let both_in_dp = dp_during.contains(&(stolen, nve2_addr.clone()))
        && dp_during.contains(&(stolen, nve3_addr.clone()));
    assert_eq!(
        insider_out, stolen,
        "the knob did not take: nve1 sends to the insider on {insider_out:#x}"
    );

    // The insider deletes its IKE SA (and so its GSA): nve1 removes the insider's GSA only.
    let seen = ins.events().len();
    ins.command("delete-ike").unwrap();
    ins.wait_event_after(
        seen,
        |e| e["event"] == "ike_sa_down",
        Duration::from_secs(5),
    )
    .unwrap();
    n1.wait_sas(Duration::from_secs(5), |s| {
        !s.iter().any(|sa| sa["name"] == "nve3")
    })
    .unwrap_or_else(|e| panic!("nve1 kept the insider's SA: {e}"));
    let dp_after = dp_out(&n1);
    let victim_in_dp = dp_after.contains(&(stolen, nve2_addr.clone()));
    let insider_in_dp = dp_after.iter().any(|(_, p)| *p == nve3_addr);
    let (rx, text) = ping_output(&t.nve(0).ns, &tenant(1), 5, 2);
    let after = sas(&n1);
    let same = |a: &Value, b: &Value| {
        a["spi_i"] == b["spi_i"]
            && a["spi_r"] == b["spi_r"]
            && a["children"][0]["gsa_id_in"] == b["children"][0]["gsa_id_in"]
            && a["children"][0]["gsa_id_out"] == b["children"][0]["gsa_id_out"]
    };
    let kept = with_gsa(&after, "nve2").is_some_and(|sa| same(sa, &victim));
    let figure = format!(
        "insider (nve3's PSK) got nve1's outbound GSA-ID {stolen:#x} for its own GSA (both in \
         nve1's gsa-dp: {both_in_dp}), then deleted its IKE SA: nve1's GSA to nve2 {} in the \
         listing, {} in gsa-dp (insider's {}), nve1->nve2 {rx}/5 pings after",
        if kept {
            "kept, same IDs"
        } else {
            "LOST or replaced"
        },
        if victim_in_dp { "kept" } else { "GONE" },
        if insider_in_dp { "left" } else { "removed" },
    );
    sc.figure(figure.clone());
    eprintln!("{figure}");
    assert!(both_in_dp, "nve1's gsa-dp outbound GSAs: {dp_during:?}");
    assert!(
        victim_in_dp,
        "nve1's gsa-dp lost the GSA to nve2: {dp_after:?}\n{}",
        logs()
    );
    assert!(!insider_in_dp, "insider GSA left in gsa-dp: {dp_after:?}");
    assert!(kept, "before {victim}\nafter {after:?}\n{}", logs());
    assert_eq!(rx, 5, "{text}\n{}", logs());
    // Still the same GSA after the pings: no ACQUIRE-driven re-initiate replaced it.
    let later = sas(&n1);
    assert!(
        with_gsa(&later, "nve2").is_some_and(|sa| same(sa, &victim)),
        "a new GSA to nve2 after the pings: {later:?}"
    );
    sc.pass(figure);
}

#[test]
fn insider_omitted_ts_gets_the_configured_prefix_not_any() {
    require_root();
    let mut sc = Scenario::start("insider-omitted-ts");
    let t = Topology::build("bridge 3").unwrap();
    let (n1, n2) = victims(&t);
    let ins = insider(&t, None);
    let listed = n1
        .wait_sas(Duration::from_secs(5), |s| with_gsa(s, "nve3").is_some())
        .unwrap_or_else(|e| panic!("insider GSA not listed: {e}\n{}\n{}", n1.log(), n2.log()));
    let gsa = with_gsa(&listed, "nve3").unwrap()["children"][0].clone();
    let remote_ts = gsa["remote_ts"].as_array().cloned().unwrap_or_default();
    let prefixes: Vec<String> = remote_ts
        .iter()
        .filter(|s| s["type"] == "prefix")
        .map(|s| format!("{}/{}", s["addr"].as_str().unwrap_or("?"), s["len"]))
        .collect();
    let vnis: Vec<String> = remote_ts
        .iter()
        .filter(|s| s["type"] == "geneve")
        .map(|s| format!("{}-{}", s["vni_start"], s["vni_end"]))
        .collect();
    let want = format!("{}/32", tenant(2));
    let insider_up = ins.events().iter().any(|e| e["event"] == "ike_sa_up");
    let figure = format!(
        "insider (nve3's PSK) asked for a GSA with Geneve TS only (no IP TSi/TSr): IKE SA up, \
         nve1 lists remote_ts VNI {} inner {}",
        vnis.join(","),
        if prefixes.is_empty() {
            "ANY (none)".to_string()
        } else {
            prefixes.join(",")
        }
    );
    sc.figure(figure.clone());
    eprintln!("{figure}");
    assert!(insider_up);
    assert_eq!(prefixes, vec![want], "remote_ts {remote_ts:?}");
    assert_eq!(vnis, vec!["100-100".to_string()], "remote_ts {remote_ts:?}");
    sc.pass(figure);
}
