//! Issue 14 item 8 on a certificate mesh: an enrolled NVE turned hostile against the
//! half-open bounds of docs/daemon.md "Limits", on real daemons (nvesecd + gsa-dp per NVE,
//! certificates from one CA) on an underlay bridge.
//!
//! `insider-cert-mesh-flood`: three NVEs (config as in daemon_mesh.rs, VNI 100 only), every
//! pair up and pinging. nve3 turns hostile: from its own namespace and address (it is
//! enrolled: no spoofing needed) it floods nve1 with IKE_SA_INIT requests that complete the
//! COOKIE round (interop/scripts/ike_cookie_flood.py; nve1 runs with `cookie_threshold = 0`
//! so every request must return a cookie) and never continue with IKE_AUTH. nve1 must keep at
//! most `block_threshold` (5) half-open SAs, drop the rest as `ike_half_open_per_address` /
//! `ike_rate_limited`, and meanwhile carry nve1 <-> nve2 pings without loss, rekey its IKE
//! SA with nve2, and answer a new IKE SA from nve2 (which passes the same cookie round).
//!
//! Run as root: `cargo test -p nvesec-interop --test scenario_insider_mesh -- --test-threads=1`.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, SocketAddrV4};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nvesec_ikev2::config::{ConnectionConfig, EngineConfig, Identity};
use nvesec_ikev2::endpoint::{seeded_rng, Endpoint};
use nvesec_interop::nve::{logs, Ca, Nve};
use nvesec_interop::topology::{ping_output, python, Scenario, Topology};
use nvesec_interop::{require_root, Netns};
use serde_json::Value;

const N: usize = 3;
/// nve1's `block_threshold` (the default, written out): half-open SAs per peer address.
const BLOCK: u64 = 5;
/// Flood size and pacing: 500 requests 16 ms apart (8 s), the script stops after 10 s.
const FLOOD: usize = 500;
const GAP_S: &str = "0.016";
const DEADLINE_S: &str = "10";
/// The flooder's UDP source port on nve3's address (nve3's nvesecd holds 500 and 4500).
const FLOOD_PORT: u16 = 5500;
const FLOOD_PY: &str = include_str!("../scripts/ike_cookie_flood.py");

fn name(k: usize) -> String {
    format!("nve{}", k + 1)
}

fn tenant(k: usize) -> String {
    format!("172.16.100.{}", k + 1)
}

/// daemon_mesh.rs's configuration, VNI 100 (`red`) only, plus `extra` at the top level.
fn config(t: &Topology, k: usize, extra: &str) -> String {
    let me = &t.nve(k).addr;
    let mut conns = String::new();
    let mut peers = String::new();
    for j in (0..N).filter(|j| *j != k) {
        conns += &format!(
            r#"
  {peer} {{
    local_addrs = {me}
    remote_addrs = {addr}
    local {{
      auth = pubkey
      id = {my_name}
      certs = {my_name}.pem
    }}
    remote {{
      auth = pubkey
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
            my_name = name(k),
        );
        peers += &format!(
            "\n        {} {{\n          underlay = {}\n          prefixes = {}/32\n        }}",
            name(j),
            t.nve(j).addr,
            tenant(j)
        );
    }
    format!(
        "{extra}connections {{{conns}\n}}\noverlay {{\n  networks {{\n    red {{\n      vni = 100\n      device = tun\n      ifname = nvred\n      address = {}/24\n      peers {{{peers}\n      }}\n    }}\n  }}\n}}\npolicies {{\n  red-out {{\n    direction = out\n    vnis = 100\n    action = secure\n    gsas = red\n  }}\n  red-in {{\n    direction = in\n    vnis = 100\n    action = secure\n    gsas = red\n  }}\n}}\n",
        tenant(k)
    )
}

fn established(sas: &[Value]) -> Vec<String> {
    let mut up: Vec<String> = sas
        .iter()
        .filter(|sa| sa["state"] == "ESTABLISHED")
        .map(|sa| sa["name"].as_str().unwrap_or_default().to_string())
        .collect();
    up.sort();
    up
}

/// SPI pairs of the established IKE SAs named `peer`.
fn spis(sas: &[Value], peer: &str) -> Vec<String> {
    sas.iter()
        .filter(|sa| sa["name"] == peer && sa["state"] == "ESTABLISHED")
        .map(|sa| format!("{}/{}", sa["spi_i"], sa["spi_r"]))
        .collect()
}

/// `--counters --json` drop reasons of nvesecd and gsa-dp as a map.
fn drops(n: &Nve) -> BTreeMap<String, u64> {
    let v = n.ctl_json(&["--counters"]).expect("nvesecctl --counters");
    v["drops"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| Some((d["reason"].as_str()?.to_string(), d["count"].as_u64()?)))
        .collect()
}

fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, k: &str) -> u64 {
    after.get(k).copied().unwrap_or(0) - before.get(k).copied().unwrap_or(0)
}

fn half_open(n: &Nve) -> u64 {
    n.ctl_json(&["--stats"]).expect("nvesecctl --stats")["ike_sas_half_open"]
        .as_u64()
        .expect("ike_sas_half_open")
}

/// Half-open responder SAs (`CONNECTING`, not ours) from `addr` in `n`'s `--list-sas`.
fn half_open_from(n: &Nve, addr: &str) -> u64 {
    let v = n.ctl_json(&["--list-sas"]).expect("nvesecctl --list-sas");
    v["sas"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|sa| {
            sa["state"] == "CONNECTING" && sa["initiator"] == false && sa["remote_addr"] == addr
        })
        .count() as u64
}

/// `ping -c COUNT -i 0.1` (10/s): replies received, and the output.
fn ping_fast(ns: &Netns, dst: &str, count: u32) -> (u32, String) {
    let out = ns
        .command("ping")
        .args(["-c", &count.to_string(), "-i", "0.1", "-W", "2", "-q", dst])
        .output()
        .expect("run ping");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rx = text
        .lines()
        .find_map(|l| {
            let (_, rest) = l.split_once(" packets transmitted, ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0);
    (rx, text)
}

/// `count` IKE_SA_INIT requests made by a real engine (default suite, fresh SPI each), all
/// from `src`, in hex, one per line.
fn inits(src: SocketAddrV4, dst: SocketAddrV4, count: usize) -> String {
    let conn = ConnectionConfig::psk(
        "flood",
        Identity::Fqdn("nve3".into()),
        Identity::Fqdn("nve1".into()),
        b"irrelevant: IKE_AUTH is never sent",
    );
    let cfg = EngineConfig {
        connections: vec![Arc::new(conn)],
        ..EngineConfig::default()
    };
    let now = Instant::now();
    let mut ep = Endpoint::new(Arc::new(cfg), seeded_rng([14; 32]), now, SystemTime::now());
    let mut text = String::new();
    for _ in 0..count {
        ep.initiate(now, "flood", SocketAddr::V4(src), Some(SocketAddr::V4(dst)))
            .unwrap();
        let t = ep.poll_transmit().expect("IKE_SA_INIT request");
        assert!(ep.poll_transmit().is_none());
        for b in &t.bytes {
            text += &format!("{b:02x}");
        }
        text.push('\n');
    }
    text
}

#[test]
fn insider_cert_mesh_flood_is_bounded_per_address() {
    require_root();
    let mut sc = Scenario::start("insider-cert-mesh-flood");
    let t = Topology::build("bridge 3").unwrap();
    let ca = Ca::new().unwrap();
    // nve1 demands a cookie for every IKE_SA_INIT (cookie_threshold = 0), so the flood has
    // to complete the COOKIE round; the other bounds are the defaults, written out.
    let limits = format!(
        "nvesecd {{\n  cookie_threshold = 0\n  block_threshold = {BLOCK}\n  init_limit_half_open = 1000\n  ike_rate_limit = 1s\n}}\n"
    );
    let nves: Vec<Nve> = (0..N)
        .map(|k| {
            let extra = if k == 0 { limits.as_str() } else { "" };
            Nve::start_text(&t.nve(k).ns, &name(k), &config(&t, k, extra), Some(&ca)).unwrap()
        })
        .collect();
    // Every pair, in pair order so each IKE SA is started by one ACQUIRE, then back.
    let mut pings = 0;
    for i in 0..N {
        for j in i + 1..N {
            for (a, b) in [(i, j), (j, i)] {
                let (rx, text) = ping_output(&t.nve(a).ns, &tenant(b), 2, 2);
                assert_eq!(rx, 2, "{} -> {}: {text}\n{}", name(a), name(b), logs(&nves));
                pings += rx;
            }
        }
    }
    let mut pairs_up = 0;
    for n in &nves {
        let sas = n
            .wait_sas(Duration::from_secs(5), |s| established(s).len() == N - 1)
            .unwrap_or_else(|e| panic!("{}: {e}", n.cfg.name));
        pairs_up += established(&sas).len();
    }
    let pairs_up = pairs_up / 2;
    assert_eq!(pairs_up, 3, "{}", logs(&nves));
    sc.figure(format!(
        "cert mesh: {pairs_up}/3 pairs up, {pings}/12 pings"
    ));

    // nve3 turns hostile.
    let (v, a) = (&nves[0], t.nve(2).addr);
    let victim = SocketAddrV4::new(t.nve(0).addr, 500);
    let requests = inits(SocketAddrV4::new(a, FLOOD_PORT), victim, FLOOD);
    let sas0 = v.ctl_json(&["--list-sas"]).unwrap();
    let old_spis = spis(sas0["sas"].as_array().map_or(&[][..], |v| v), "nve2");
    assert_eq!(old_spis.len(), 1, "{sas0}");
    let (drops0, half_open0) = (drops(v), half_open(v));
    assert_eq!(half_open0, 0);
    let flood_done = AtomicBool::new(false);
    let (max_half_open, max_half_open_all) = (AtomicU64::new(0), AtomicU64::new(0));
    let (flood, rx, rekey_took, rekeyed_during_flood) = std::thread::scope(|s| {
        let flooder = s.spawn(|| {
            let mut child = t
                .nve(2)
                .ns
                .command(python())
                .args(["-c", FLOOD_PY, &a.to_string(), &FLOOD_PORT.to_string()])
                .args([&t.nve(0).addr.to_string(), "500", GAP_S, DEADLINE_S])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("python3");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(requests.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            flood_done.store(true, Ordering::SeqCst);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice::<Value>(&out.stdout).expect("flood figures")
        });
        let poller = s.spawn(|| {
            while !flood_done.load(Ordering::SeqCst) {
                max_half_open.fetch_max(half_open_from(v, &a.to_string()), Ordering::SeqCst);
                max_half_open_all.fetch_max(half_open(v), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        // The flood holds state on nve1: now the legitimate pair must not notice.
        let end = Instant::now() + Duration::from_secs(5);
        while max_half_open.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < end, "the flood opened no SA on nve1");
            std::thread::sleep(Duration::from_millis(20));
        }
        let (rx, text) = ping_fast(&t.nve(0).ns, &tenant(1), 20);
        assert_eq!(rx, 20, "nve1 -> nve2 during the flood: {text}");
        let started = Instant::now();
        let out = v.ctl(&["--rekey", "--ike", "nve2"]).unwrap();
        let sas = v
            .wait_sas(Duration::from_secs(5), |s| {
                let now = spis(s, "nve2");
                now.len() == 1 && now != old_spis
            })
            .unwrap_or_else(|e| panic!("rekey of nve1-nve2 during the flood: {out}\n{e}"));
        let took = started.elapsed();
        drop(sas);
        // A new initiation to nve1 too: nve2 drops its IKE SA and starts over, through the
        // same cookie round, while nve3's address is blocked.
        let n2 = &nves[1];
        let out = n2.ctl(&["--terminate", "--ike", "nve1"]).unwrap();
        v.wait_sas(Duration::from_secs(5), |s| spis(s, "nve2").is_empty())
            .unwrap_or_else(|e| panic!("terminate nve2-nve1: {out}\n{e}"));
        let started = Instant::now();
        let out = n2
            .ctl(&["--initiate", "--ike", "nve1", "--timeout", "5"])
            .unwrap_or_else(|e| panic!("nve2 initiates during the flood: {e}\n{}", logs(&nves)));
        let init_took = started.elapsed();
        assert!(out.contains("IKE_SA established successfully"), "{out}");
        v.wait_sas(Duration::from_secs(5), |s| spis(s, "nve2").len() == 1)
            .unwrap_or_else(|e| panic!("nve1 lists no new SA with nve2: {e}"));
        let during = !flood_done.load(Ordering::SeqCst);
        let flood = flooder.join().unwrap();
        poller.join().unwrap();
        (flood, rx, (took, init_took), during)
    });
    let (rekey_took, init_took) = rekey_took;
    // Let the last cookie-bearing requests reach nve1, then account for them.
    std::thread::sleep(Duration::from_millis(300));
    let drops1 = drops(v);
    let d = |k: &str| delta(&drops0, &drops1, k);
    let (cookie_required, per_address, rate_limited, total_limit) = (
        d("ike_cookie_required"),
        d("ike_half_open_per_address"),
        d("ike_rate_limited"),
        d("ike_half_open_limit"),
    );
    let max_half_open = max_half_open
        .load(Ordering::SeqCst)
        .max(half_open_from(v, &a.to_string()));
    let max_half_open_all = max_half_open_all.load(Ordering::SeqCst).max(half_open(v));
    let f = |k: &str| flood[k].as_u64().unwrap_or(0);
    let (sent, cookies, with_cookie, sa_answers) = (
        f("requests"),
        f("cookies"),
        f("with_cookie"),
        f("sa_answers"),
    );
    // nve1 <-> nve2 still both ways after it.
    let (back, text) = ping_fast(&t.nve(1).ns, &tenant(0), 10);
    let figure = format!(
        "cert mesh {pairs_up}/3 pairs, {pings}/12 pings; nve3 (enrolled, own address) sent \
         {sent} IKE_SA_INIT in {}s, got {cookies} cookies, resent {with_cookie} with cookie, \
         got {sa_answers} SA answers; nve1: half-open from nve3 max {max_half_open} \
         (block_threshold {BLOCK}; all peers {max_half_open_all}), ike_cookie_required \
         +{cookie_required}, ike_half_open_per_address +{per_address}, ike_rate_limited \
         +{rate_limited}, ike_half_open_limit +{total_limit}; \
         during the flood nve1->nve2 {rx}/20 pings at 10/s, IKE rekey nve1-nve2 in {} ms, new \
         IKE SA nve2->nve1 (cookie round) in {} ms; nve2->nve1 {back}/10 after",
        flood["seconds"],
        rekey_took.as_millis(),
        init_took.as_millis()
    );
    sc.figure(figure.clone());
    eprintln!("{figure}\nflood: {flood}");
    assert!(
        rekeyed_during_flood,
        "the flood ended before the rekey and the new SA: proves nothing"
    );
    assert_eq!(sent, FLOOD as u64, "{flood}");
    assert!(cookies * 10 >= sent * 9, "cookies demanded: {flood}");
    // Every flood request without a cookie, plus nve2's first IKE_SA_INIT.
    assert_eq!(cookie_required, cookies + 1, "{figure}");
    assert!(
        max_half_open <= BLOCK,
        "half-open {max_half_open} > {BLOCK}"
    );
    assert!((1..=BLOCK).contains(&sa_answers), "{flood}");
    assert!(per_address > 0 && rate_limited > 0, "{figure}");
    // Every request that returned its cookie made a half-open SA or was dropped by a bound.
    assert_eq!(
        sa_answers + per_address + rate_limited + total_limit,
        with_cookie,
        "{figure}"
    );
    assert_eq!(back, 10, "{text}");
    sc.pass(figure);
}
