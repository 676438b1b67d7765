//! Issue 14, `insider-*`: an NVE with valid credentials acting against the others, on real
//! daemons (nvesecd + gsa-dp per NVE) on an underlay bridge.
//!
//! `insider-psk-mesh`: three NVEs with swanctl's usual PSK layout, one secret per pair, the
//! secrets listed in a different order on each NVE. Every pair must come up (before the fix
//! of `psk_for`, the order of the secrets decided which single pair worked). Then nve3's
//! daemons are replaced by an impostor at nve3's address that holds only the nve1-nve2 secret
//! and claims `id = nve3`: nve1 must refuse it (AUTHENTICATION_FAILED) and keep no IKE SA with
//! it, while nve1-nve2 traffic goes on.

use std::time::{Duration, Instant};

use nvesec_interop::nve::Nve;
use nvesec_interop::require_root;
use nvesec_interop::topology::{ping_output, Scenario, Topology};
use serde_json::Value;

const N: usize = 3;

fn name(k: usize) -> String {
    format!("nve{}", k + 1)
}

fn tenant(k: usize) -> String {
    format!("172.16.100.{}", k + 1)
}

/// The secret of the pair (a, b), named and valued by the pair.
fn secret(a: usize, b: usize) -> String {
    let (a, b) = (a.min(b), a.max(b));
    format!(
        "  ike-{x}{y} {{\n    id-a = {na}\n    id-b = {nb}\n    secret = key-of-{na}-and-{nb}\n  }}\n",
        x = a + 1,
        y = b + 1,
        na = name(a),
        nb = name(b)
    )
}

/// nvesec.conf of NVE `k` claiming identity `id`, with connections to `peers` and the pair
/// secrets `secrets` in that order.
fn config(t: &Topology, k: usize, id: &str, peers: &[usize], secrets: &[(usize, usize)]) -> String {
    let me = &t.nve(k).addr;
    let mut conns = String::new();
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
        );
    }
    let mut peers_text = String::new();
    for &j in peers {
        peers_text += &format!(
            "\n        {} {{\n          underlay = {}\n          prefixes = {}/32\n        }}",
            name(j),
            t.nve(j).addr,
            tenant(j)
        );
    }
    let mut secrets_text = String::new();
    for &(a, b) in secrets {
        secrets_text += &secret(a, b);
    }
    format!(
        "connections {{{conns}\n}}\nsecrets {{\n{secrets_text}}}\noverlay {{\n  networks {{\n    red {{\n      vni = 100\n      device = tun\n      ifname = nvred\n      address = {}/24\n      peers {{{peers_text}\n      }}\n    }}\n  }}\n}}\npolicies {{\n  red-out {{\n    direction = out\n    vnis = 100\n    action = secure\n    gsas = red\n  }}\n  red-in {{\n    direction = in\n    vnis = 100\n    action = secure\n    gsas = red\n  }}\n}}\n",
        tenant(k)
    )
}

fn nve(nves: &[Option<Nve>], k: usize) -> &Nve {
    nves[k].as_ref().expect("running")
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

#[test]
fn insider_psk_mesh_every_pair_up_and_an_impostor_refused() {
    require_root();
    let mut sc = Scenario::start("insider-psk-mesh");
    let t = Topology::build("bridge 3").unwrap();
    // Each NVE lists its two secrets with another pair first. nve1 lists nve1-nve2 first:
    // the old lookup took the first secret naming any of the identities, so nve1 used it
    // for nve3 too, and the impostor below got in.
    let orders: [Vec<(usize, usize)>; N] = [
        vec![(0, 1), (0, 2)],
        vec![(1, 2), (0, 1)],
        vec![(0, 2), (1, 2)],
    ];
    let mut nves: Vec<Option<Nve>> = (0..N)
        .map(|k| {
            let peers: Vec<usize> = (0..N).filter(|j| *j != k).collect();
            let text = config(&t, k, &name(k), &peers, &orders[k]);
            Some(Nve::start_text(&t.nve(k).ns, &name(k), &text, None).unwrap())
        })
        .collect();
    let logs = |nves: &[Option<Nve>]| -> String {
        nves.iter()
            .flatten()
            .map(|n| format!("--- {} ---\n{}", n.cfg.name, n.log()))
            .collect()
    };
    // Every pair, in pair order so each IKE SA is started by one ACQUIRE.
    let mut pings = 0;
    for i in 0..N {
        for j in i + 1..N {
            let (rx, text) = ping_output(&t.nve(i).ns, &tenant(j), 2, 2);
            assert_eq!(rx, 2, "{} -> {}: {text}\n{}", name(i), name(j), logs(&nves));
            pings += rx;
        }
    }
    let mut pairs_up = 0;
    for k in 0..N {
        let sas = nve(&nves, k)
            .wait_sas(Duration::from_secs(5), |s| established(s).len() == N - 1)
            .unwrap_or_else(|e| panic!("{}: {e}", name(k)));
        pairs_up += established(&sas).len();
    }
    let pairs_up = pairs_up / 2;
    sc.figure(format!("PSK mesh: {pairs_up}/3 pairs up, {pings}/6 pings"));

    // nve1's SA with the real nve3 stays listed until DPD notices nve3 is gone: only a new
    // one would be the impostor's.
    let spis = |sas: &[Value]| -> Vec<String> {
        sas.iter()
            .filter(|sa| sa["name"] == "nve3" && sa["state"] == "ESTABLISHED")
            .map(|sa| format!("{}/{}", sa["spi_i"], sa["spi_r"]))
            .collect()
    };
    let before = nve(&nves, 0).ctl_json(&["--list-sas"]).unwrap();
    let before = spis(before["sas"].as_array().map_or(&[][..], |v| v));
    // nve3 goes; an impostor at its address holds only the nve1-nve2 secret and claims nve3.
    // A stock nvesecd will not use another pair's secret (that is the fix), so the impostor's
    // configuration holds it without ids, which any connection may use: what a modified
    // IKE stack would do with a stolen or shared key.
    nves[2] = None;
    let stolen = secret(0, 1);
    let stolen_key = stolen
        .lines()
        .find_map(|l| l.trim().strip_prefix("secret = "))
        .unwrap()
        .to_string();
    let impostor_text = config(&t, 2, "nve3", &[0], &[]).replace(
        "secrets {\n}",
        &format!("secrets {{\n  ike-stolen {{\n    secret = {stolen_key}\n  }}\n}}"),
    );
    assert!(impostor_text.contains(&stolen_key), "{impostor_text}");
    let impostor = Nve::start_text(&t.nve(2).ns, "impostor", &impostor_text, None).unwrap();
    let started = Instant::now();
    let _ = impostor.ctl(&["--initiate", "--ike", "nve1"]);
    // What nve1 did with it: logged as an authentication failure, no SA with "nve3".
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let log = nve(&nves, 0).log();
        if log.contains("AUTHENTICATION_FAILED") || log.contains("authentication failed") {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let sas1 = nve(&nves, 0).ctl_json(&["--list-sas"]).unwrap();
    let sas1 = sas1["sas"].as_array().cloned().unwrap_or_default();
    let with_nve3: Vec<String> = spis(&sas1)
        .into_iter()
        .filter(|s| !before.contains(s))
        .collect();
    let impostor_sas = impostor.ctl_json(&["--list-sas"]).unwrap();
    let impostor_up = established(impostor_sas["sas"].as_array().map_or(&[][..], |v| v));
    // nve1-nve2 still carries traffic.
    let (rx, text) = ping_output(&t.nve(0).ns, &tenant(1), 3, 2);
    let figure =
        format!(
        "PSK mesh (one secret per pair, orders differ): {pairs_up}/3 pairs up, {pings}/6 pings; \
         impostor at nve3's address with the nve1-nve2 secret claiming nve3: {} after {:.1}s, \
         new nve1 SAs with nve3 {}, impostor SAs {}; nve1->nve2 {rx}/3 pings after",
        if refused { "AUTHENTICATION_FAILED" } else { "not refused" },
        started.elapsed().as_secs_f64(),
        with_nve3.len(),
        impostor_up.len()
    );
    sc.figure(figure.clone());
    eprintln!("{figure}");
    assert_eq!(pairs_up, 3, "{}", logs(&nves));
    assert!(
        refused,
        "nve1 did not refuse the impostor\n{}\n--- impostor ---\n{}",
        logs(&nves),
        impostor.log()
    );
    assert!(
        with_nve3.is_empty(),
        "nve1 holds an SA with the impostor: {with_nve3:?}"
    );
    assert!(impostor_up.is_empty(), "the impostor holds {impostor_up:?}");
    assert_eq!(rx, 3, "{text}");
    sc.pass(figure);
}

/// `insider-spoofed-source` (issue 14 item 2): nve2's IKE traffic to nve1 is source-rewritten
/// to nve3's address (nftables SNAT in nve2's namespace: an on-path rewrite). nve2 rekeys its
/// GSA: nve1 receives that authenticated request from "nve3". Before the fix nve1 moved the
/// IKE SA to nve3's address: its answers and its own later requests went to nve3 (dropped
/// there as an unknown SPI), so its next rekey never completed. Now nve1 answers at the
/// request's source but keeps the IKE SA at nve2: once the rewrite stops, nve2's
/// retransmission gets the cached answer, and nve1's own IKE rekey towards nve2 completes.
#[test]
fn insider_spoofed_source_does_not_move_the_ike_sa() {
    require_root();
    let mut sc = Scenario::start("insider-spoofed-source");
    let t = Topology::build("bridge 3").unwrap();
    let all: [Vec<(usize, usize)>; N] = [
        vec![(0, 1), (0, 2)],
        vec![(0, 1), (1, 2)],
        vec![(0, 2), (1, 2)],
    ];
    let nves: Vec<Option<Nve>> = (0..N)
        .map(|k| {
            let peers: Vec<usize> = (0..N).filter(|j| *j != k).collect();
            let text = config(&t, k, &name(k), &peers, &all[k]);
            Some(Nve::start_text(&t.nve(k).ns, &name(k), &text, None).unwrap())
        })
        .collect();
    let (rx, text) = ping_output(&t.nve(0).ns, &tenant(1), 2, 2);
    assert_eq!(rx, 2, "{text}");
    let (n1, n2) = (nve(&nves, 0), nve(&nves, 1));
    let sa_with = |n: &Nve, peer: &str| -> Value {
        let v = n.ctl_json(&["--list-sas"]).unwrap();
        v["sas"]
            .as_array()
            .and_then(|a| a.iter().find(|sa| sa["name"] == peer).cloned())
            .unwrap_or(Value::Null)
    };
    let nve2_addr = t.nve(1).addr.to_string();
    let before = sa_with(n1, "nve2");
    assert_eq!(before["remote_addr"], nve2_addr.as_str(), "{before}");
    // The rewrite: nve2's IKE datagrams to nve1 leave with nve3's source address.
    let nft = |args: &[&str]| t.nve(1).ns.exec("nft", args).unwrap();
    nft(&["add", "table", "ip", "nvspoof"]);
    nft(&[
        "add",
        "chain",
        "ip",
        "nvspoof",
        "post",
        "{ type nat hook postrouting priority 100 ; }",
    ]);
    let rule = format!(
        "add rule ip nvspoof post ip daddr {} udp sport 500 snat to {}",
        t.nve(0).addr,
        t.nve(2).addr
    );
    let args: Vec<&str> = rule.split(' ').collect();
    nft(&args);
    let _ = n2.ctl(&["--rekey", "--child", "red"]);
    // nve1 handles the rewritten request: it logs where it came from.
    let deadline = Instant::now() + Duration::from_secs(5);
    let seen = loop {
        if n1.log().contains("not the peer's") {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let during = sa_with(n1, "nve2");
    // The rewrite stops; nve2's retransmission (after ~4 s) comes from its own address.
    nft(&["delete", "table", "ip", "nvspoof"]);
    let old_spis = format!("{}/{}", during["spi_i"], during["spi_r"]);
    // nve1's own next request must reach nve2: an IKE rekey, new SPIs on both ends.
    std::thread::sleep(Duration::from_secs(5));
    let started = Instant::now();
    let _ = n1.ctl(&["--rekey", "--ike", "nve2"]);
    let rekeyed = n1
        .wait_sas(Duration::from_secs(15), |s| {
            s.iter().any(|sa| {
                sa["name"] == "nve2"
                    && sa["state"] == "ESTABLISHED"
                    && format!("{}/{}", sa["spi_i"], sa["spi_r"]) != old_spis
            })
        })
        .is_ok();
    let after = sa_with(n1, "nve2");
    let (rx, ptext) = ping_output(&t.nve(0).ns, &tenant(1), 3, 2);
    let figure = format!(
        "nve2's GSA rekey request rewritten to nve3's source: nve1 {} it, IKE SA address \
         during {} (nve2 {}); after the rewrite stopped, nve1's IKE rekey towards nve2 {} \
         ({:.1}s), address {}; nve1->nve2 {rx}/3 pings",
        if seen { "logged" } else { "never logged" },
        during["remote_addr"],
        t.nve(1).addr,
        if rekeyed {
            "completed"
        } else {
            "never completed"
        },
        started.elapsed().as_secs_f64(),
        after["remote_addr"]
    );
    sc.figure(figure.clone());
    eprintln!("{figure}");
    let logs = format!("--- nve1 ---\n{}\n--- nve2 ---\n{}", n1.log(), n2.log());
    assert!(seen, "nve1 never saw the rewritten request\n{logs}");
    assert_eq!(during["remote_addr"], nve2_addr.as_str(), "{logs}");
    assert!(
        rekeyed,
        "nve1's IKE rekey towards nve2 never completed\n{logs}"
    );
    assert_eq!(after["remote_addr"], nve2_addr.as_str(), "{logs}");
    assert_eq!(rx, 3, "{ptext}");
    sc.pass(figure);
}
