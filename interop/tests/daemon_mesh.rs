//! nvesecd in a full mesh: three NVEs on an underlay bridge (interop/src/topology.rs), each
//! with gsa-dp and nvesecd (interop/src/nve.rs), certificates from one CA, one connection to
//! each other NVE, two tenant networks (VNI 100 `red`, VNI 200 `blue`) and policies that name
//! the children without a connection (`gsas = red`): gsa-dp seals each packet with the GSA of
//! the route's peer NVE (docs/dataplane.md), nvesecd answers an ACQUIRE on the connection to
//! that peer (docs/daemon.md "Full mesh").

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use nvesec_interop::dataplane::json_u64;
use nvesec_interop::nve::{logs, Ca, Nve};
use nvesec_interop::topology::{ping_output, Topology};
use nvesec_interop::{require_root, Netns};
use serde_json::Value;

const N: usize = 3;
/// (network and child name, VNI, device, third octet of the tenant prefix).
const NETS: [(&str, u32, &str, u8); 2] = [("red", 100, "nvred", 100), ("blue", 200, "nvblue", 200)];
const STATS: &str = r#"{"v":1,"seq":90,"op":"STATS"}"#;

fn name(k: usize) -> String {
    format!("nve{}", k + 1)
}

fn tenant(octet: u8, k: usize) -> String {
    format!("172.16.{octet}.{}", k + 1)
}

/// The nvesec.conf of NVE `k`: one connection per other NVE (named after it) with the
/// children `red` and `blue`, two networks, and policies with bare child names.
fn config(t: &Topology, k: usize) -> String {
    let me = &t.nve(k).addr;
    let mut conns = String::new();
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
      blue {{
        vnis = 200
        start_action = trap
      }}
    }}
  }}"#,
            peer = name(j),
            addr = t.nve(j).addr,
            my_name = name(k),
        );
    }
    let mut nets = String::new();
    for (net, vni, dev, octet) in NETS {
        let mut peers = String::new();
        for j in (0..N).filter(|j| *j != k) {
            peers += &format!(
                "\n        {} {{\n          underlay = {}\n          prefixes = {}/32\n        }}",
                name(j),
                t.nve(j).addr,
                tenant(octet, j)
            );
        }
        nets += &format!(
            "\n    {net} {{\n      vni = {vni}\n      device = tun\n      ifname = {dev}\n      address = {}/24\n      peers {{{peers}\n      }}\n    }}",
            tenant(octet, k)
        );
    }
    let mut pols = String::new();
    for (net, vni, _, _) in NETS {
        for dir in ["out", "in"] {
            pols += &format!(
                "\n  {net}-{dir} {{\n    direction = {dir}\n    vnis = {vni}\n    action = secure\n    gsas = {net}\n  }}"
            );
        }
    }
    format!("connections {{{conns}\n}}\noverlay {{\n  networks {{{nets}\n  }}\n}}\npolicies {{{pols}\n}}\n")
}

/// `ping -c COUNT -i 0.2 -W 2 DST`: replies received, and the output.
fn ping(ns: &Netns, dst: &str, count: u32) -> (u32, String) {
    ping_output(ns, dst, count, 2)
}

/// Two established IKE SAs, each with the two children installed.
fn full(sas: &[Value]) -> bool {
    sas.len() == N - 1
        && sas.iter().all(|sa| {
            sa["state"] == "ESTABLISHED"
                && sa["children"].as_array().is_some_and(|c| {
                    c.len() == NETS.len() && c.iter().all(|g| g["state"] == "INSTALLED")
                })
        })
}

/// (connection, child) -> (GSA-ID in, GSA-ID out), from one NVE's `--list-sas --json`.
fn gsa_ids(sas: &[Value]) -> BTreeMap<(String, String), (String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut m = BTreeMap::new();
    for sa in sas {
        for c in sa["children"].as_array().into_iter().flatten() {
            let prev = m.insert(
                (s(&sa["name"]), s(&c["name"])),
                (s(&c["gsa_id_in"]), s(&c["gsa_id_out"])),
            );
            assert!(prev.is_none(), "two GSAs of one child: {sas:?}");
        }
    }
    m
}

#[test]
fn three_nves_two_vnis_full_mesh() {
    require_root();
    let started = Instant::now();
    let t = Topology::build("bridge 3").unwrap();
    let ca = Ca::new().unwrap();
    let nves: Vec<Nve> = (0..N)
        .map(|k| Nve::start_text(&t.nve(k).ns, &name(k), &config(&t, k), Some(&ca)).unwrap())
        .collect();
    for n in &nves {
        assert!(n.wait_sas(Duration::from_secs(1), |s| s.is_empty()).is_ok());
    }
    // Every NVE pings every other on both VNIs. In pair order first (i < j, then back), so
    // each IKE SA is started by one ACQUIRE (simultaneous initiations would make two).
    // The first request of a pair waits in gsa-dp's hold queue while IKE runs: all arrive.
    let mut order: Vec<(usize, usize)> = Vec::new();
    for i in 0..N {
        for j in i + 1..N {
            order.extend([(i, j), (j, i)]);
        }
    }
    for (_, _, _, octet) in NETS {
        for &(i, j) in &order {
            let (rx, text) = ping(&t.nve(i).ns, &tenant(octet, j), 2);
            assert_eq!(rx, 2, "{} -> {}: {text}\n{}", name(i), name(j), logs(&nves));
        }
    }
    // Once more, every pair both ways on both VNIs, all on the installed GSAs.
    for (_, _, _, octet) in NETS {
        for i in 0..N {
            for j in (0..N).filter(|j| *j != i) {
                let (rx, text) = ping(&t.nve(i).ns, &tenant(octet, j), 1);
                assert_eq!(rx, 1, "{} -> {}: {text}", name(i), name(j));
            }
        }
    }
    // Each NVE: one IKE SA per peer, each with red and blue installed...
    let views: Vec<BTreeMap<(String, String), (String, String)>> = nves
        .iter()
        .map(|n| {
            let sas = n
                .wait_sas(Duration::from_secs(5), full)
                .unwrap_or_else(|e| panic!("{}: {e}", n.cfg.name));
            let mut peers: Vec<String> = sas
                .iter()
                .map(|sa| sa["name"].as_str().unwrap_or_default().to_string())
                .collect();
            peers.sort();
            let mut want: Vec<String> = (0..N).map(name).filter(|p| *p != n.cfg.name).collect();
            want.sort();
            assert_eq!(peers, want, "{}: {sas:?}", n.cfg.name);
            for sa in &sas {
                assert_eq!(sa["local_id"], n.cfg.name.as_str());
                assert_eq!(sa["remote_id"], sa["name"], "{sa}");
            }
            gsa_ids(&sas)
        })
        .collect();
    // ...and each GSA-ID pair is the peer's, mirrored: our outbound is its inbound.
    for i in 0..N {
        for j in (0..N).filter(|j| *j != i) {
            for (child, _, _, _) in NETS {
                let (in_i, out_i) = &views[i][&(name(j), child.to_string())];
                let (in_j, out_j) = &views[j][&(name(i), child.to_string())];
                assert_eq!(
                    (in_i, out_i),
                    (out_j, in_j),
                    "{} <-> {} {child}",
                    name(i),
                    name(j)
                );
                assert_ne!(in_i, out_i);
            }
        }
    }
    // Four distinct GSA-IDs in each direction set: no GSA serves two peers.
    for (k, v) in views.iter().enumerate() {
        let mut outs: Vec<&String> = v.values().map(|(_, o)| o).collect();
        outs.sort();
        outs.dedup();
        assert_eq!(outs.len(), (N - 1) * NETS.len(), "{}: {v:?}", name(k));
    }
    // Nothing crossed in clear and nothing failed to verify.
    for n in &nves {
        let s = n.dp.client().unwrap().ok(STATS).unwrap();
        assert_eq!(json_u64(&s, "sent_bypass"), Some(0), "{s}");
        assert_eq!(json_u64(&s, "bad_icv"), Some(0), "{s}");
        assert_eq!(json_u64(&s, "policy_mismatch"), Some(0), "{s}");
        assert!(json_u64(&s, "sent_secured").unwrap() >= 8, "{s}");
    }
    // Not a bound: the first scenario of a binary also builds the daemons, and under load
    // (the soak's CPU hog) that alone took over a minute. Every wait above has its own limit.
    eprintln!("full mesh checked in {:?}", started.elapsed());
}
