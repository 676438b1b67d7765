//! Issue 7 scenarios 1 and 5: nvesecd + gsa-dp in full meshes on an underlay bridge
//! (interop/src/topology.rs), one connection per peer NVE, two tenant networks (VNI 100
//! `red`, VNI 200 `blue`) and policies with bare child names (`gsas = red`, docs/config.md),
//! as interop/tests/daemon_mesh.rs.
//!
//! - `mesh_authz`: four NVEs with certificates in a full mesh plus a fifth with a PSK
//!   connection to the fourth; every pair carries traffic on its authorized VNIs, and a VNI
//!   one side does not authorize (NVE 1 allows only VNI 100 towards NVE 2) carries nothing
//!   (seed 000 REQ 14): the GSA is refused with TS_UNACCEPTABLE and the packets are dropped.
//! - `mesh_collisions`: four NVEs initiate every connection from both ends at the same
//!   instant, then rekey every IKE SA and every GSA from both ends at once (RFC 7296 §2.8.1,
//!   §2.8.2): exactly one IKE SA per pair afterwards, at most two GSAs per child, traffic flows.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use nvesec_interop::dataplane::json_u64;
use nvesec_interop::nve::{logs, Ca, Nve};
use nvesec_interop::require_root;
use nvesec_interop::topology::{ping_output as ping, Scenario, Topology};
use serde_json::Value;

/// (network and child name, VNI, device, third octet of the tenant prefix).
const NETS: [(&str, u32, &str, u8); 2] = [("red", 100, "nvred", 100), ("blue", 200, "nvblue", 200)];
const STATS: &str = r#"{"v":1,"seq":90,"op":"STATS"}"#;
const PSK: &str = "0sbXVsdGktcGVlci1tZXNoLXNoYXJlZC1zZWNyZXQ=";

fn name(k: usize) -> String {
    format!("nve{}", k + 1)
}

fn tenant(octet: u8, k: usize) -> String {
    format!("172.16.{octet}.{}", k + 1)
}

/// Who talks to whom: the links of a mesh, each with its authentication and, per side, the
/// children that side's connection has (what it authorizes, seed 000 REQ 14).
struct Mesh {
    n: usize,
    links: Vec<Link>,
    start_action: &'static str,
}

struct Link {
    a: usize,
    b: usize,
    psk: bool,
    /// Children of a's connection to b, and of b's connection to a.
    children_a: Vec<&'static str>,
    children_b: Vec<&'static str>,
}

impl Link {
    fn new(a: usize, b: usize, psk: bool) -> Self {
        Link {
            a,
            b,
            psk,
            children_a: vec!["red", "blue"],
            children_b: vec!["red", "blue"],
        }
    }

    /// The children both sides authorize: the GSAs the pair ends up with.
    fn authorized(&self) -> Vec<&'static str> {
        self.children_a
            .iter()
            .filter(|c| self.children_b.contains(c))
            .copied()
            .collect()
    }

    /// (peer, psk, my children) seen from NVE `k`, if `k` is an end of this link.
    fn from(&self, k: usize) -> Option<(usize, bool, &[&'static str])> {
        if k == self.a {
            Some((self.b, self.psk, &self.children_a))
        } else if k == self.b {
            Some((self.a, self.psk, &self.children_b))
        } else {
            None
        }
    }
}

impl Mesh {
    /// The pairwise full mesh of NVEs `0..n` with certificates.
    fn full(n: usize, start_action: &'static str) -> Self {
        let mut links = Vec::new();
        for a in 0..n {
            for b in a + 1..n {
                links.push(Link::new(a, b, false));
            }
        }
        Mesh {
            n,
            links,
            start_action,
        }
    }

    fn peers(&self, k: usize) -> Vec<(usize, bool, &[&'static str])> {
        self.links.iter().filter_map(|l| l.from(k)).collect()
    }

    /// The nvesec.conf of NVE `k`: one connection per peer (named after it), both networks
    /// listing every peer (also one that does not authorize a VNI: its packets must be
    /// refused, not routed elsewhere), policies with bare child names.
    fn config(&self, t: &Topology, k: usize) -> String {
        let me = &t.nve(k).addr;
        let mut conns = String::new();
        let mut secrets = String::new();
        for (j, psk, children) in self.peers(k) {
            let (local, remote) = if psk {
                secrets += &format!(
                    "\n  ike-{peer} {{\n    id = {peer}\n    secret = {PSK}\n  }}",
                    peer = name(j)
                );
                (
                    format!("auth = psk\n      id = {}", name(k)),
                    format!("auth = psk\n      id = {}", name(j)),
                )
            } else {
                (
                    format!(
                        "auth = pubkey\n      id = {me}\n      certs = {me}.pem",
                        me = name(k)
                    ),
                    format!("auth = pubkey\n      id = {}", name(j)),
                )
            };
            let mut ch = String::new();
            for c in children {
                let vni = NETS.iter().find(|n| n.0 == *c).unwrap().1;
                ch += &format!(
                    "\n      {c} {{\n        vnis = {vni}\n        start_action = {}\n      }}",
                    self.start_action
                );
            }
            conns += &format!(
                "\n  {peer} {{\n    local_addrs = {me}\n    remote_addrs = {addr}\n    local {{\n      {local}\n    }}\n    remote {{\n      {remote}\n    }}\n    children {{{ch}\n    }}\n  }}",
                peer = name(j),
                addr = t.nve(j).addr,
            );
        }
        let mut nets = String::new();
        for (net, vni, dev, oct) in NETS {
            let mut peers = String::new();
            for (j, _, _) in self.peers(k) {
                peers += &format!(
                    "\n        {} {{\n          underlay = {}\n          prefixes = {}/32\n        }}",
                    name(j),
                    t.nve(j).addr,
                    tenant(oct, j)
                );
            }
            nets += &format!(
                "\n    {net} {{\n      vni = {vni}\n      device = tun\n      ifname = {dev}\n      address = {}/24\n      peers {{{peers}\n      }}\n    }}",
                tenant(oct, k)
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
        let secrets = if secrets.is_empty() {
            String::new()
        } else {
            format!("secrets {{{secrets}\n}}\n")
        };
        format!("connections {{{conns}\n}}\n{secrets}overlay {{\n  networks {{{nets}\n  }}\n}}\npolicies {{{pols}\n}}\n")
    }

    /// NVE `k`: (peer name -> the children its IKE SA must carry).
    fn expected(&self, k: usize) -> BTreeMap<String, BTreeSet<String>> {
        self.links
            .iter()
            .filter_map(|l| {
                let (j, _, _) = l.from(k)?;
                Some((
                    name(j),
                    l.authorized().iter().map(|c| c.to_string()).collect(),
                ))
            })
            .collect()
    }

    /// Start every NVE at once (one thread each); an NVE without a certificate connection
    /// gets no enrollment.
    fn start(&self, t: &Topology, ca: &Ca) -> Vec<Nve> {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..self.n)
                .map(|k| {
                    let text = self.config(t, k);
                    let certs = self.peers(k).iter().any(|(_, psk, _)| !psk);
                    let ns = &t.nve(k).ns;
                    s.spawn(move || {
                        Nve::start_text(ns, &name(k), &text, certs.then_some(ca))
                            .unwrap_or_else(|e| panic!("start {}: {e}\n{text}", name(k)))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }
}

fn stats(n: &Nve) -> String {
    n.dp.client().unwrap().ok(STATS).unwrap()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Exactly one ESTABLISHED IKE SA per expected peer, each with exactly its expected
/// children INSTALLED, one GSA each.
fn matches(sas: &[Value], want: &BTreeMap<String, BTreeSet<String>>) -> bool {
    let mut names: Vec<String> = sas.iter().map(|sa| s(&sa["name"])).collect();
    names.sort();
    names == want.keys().cloned().collect::<Vec<_>>()
        && sas.iter().all(|sa| {
            let children = sa["children"].as_array().cloned().unwrap_or_default();
            let mut got: Vec<String> = children.iter().map(|c| s(&c["name"])).collect();
            got.sort();
            sa["state"] == "ESTABLISHED"
                && children.iter().all(|c| c["state"] == "INSTALLED")
                && got == want[&s(&sa["name"])].iter().cloned().collect::<Vec<_>>()
        })
}

/// (peer, child) -> (GSA-ID in, GSA-ID out), from one NVE's `--list-sas --json`.
fn gsa_ids(sas: &[Value]) -> BTreeMap<(String, String), (String, String)> {
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

/// Wait until every NVE lists exactly what the mesh expects, then check that each pair's
/// GSA-IDs are mirrored (our outbound is the peer's inbound) and that no GSA-ID serves two
/// peers. Returns (IKE SAs, GSA pairs) counted over the mesh.
fn assert_sas(mesh: &Mesh, nves: &[Nve], timeout: Duration) -> (usize, usize) {
    // Each NVE is read in turn: while a crossed pair still resolves, two NVEs can each list
    // one (different) IKE SA for their pair. Read again until the views agree.
    let end = Instant::now() + timeout;
    loop {
        match mirrored(mesh, nves, timeout) {
            Ok(counts) => return counts,
            Err(e) if Instant::now() > end => panic!("{e}\n{}", logs(nves)),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn mirrored(mesh: &Mesh, nves: &[Nve], timeout: Duration) -> Result<(usize, usize), String> {
    let views: Vec<_> = nves
        .iter()
        .enumerate()
        .map(|(k, n)| {
            let want = mesh.expected(k);
            let sas = n
                .wait_sas(timeout, |sas| matches(sas, &want))
                .unwrap_or_else(|e| panic!("{}: want {want:?}: {e}", n.cfg.name));
            for sa in &sas {
                assert_eq!(sa["local_id"], n.cfg.name.as_str());
                assert_eq!(sa["remote_id"], sa["name"], "{sa}");
            }
            gsa_ids(&sas)
        })
        .collect();
    let mut gsas = 0;
    for l in &mesh.links {
        for child in l.authorized() {
            let (in_a, out_a) = &views[l.a][&(name(l.b), child.to_string())];
            let (in_b, out_b) = &views[l.b][&(name(l.a), child.to_string())];
            if (in_a, out_a) != (out_b, in_b) {
                return Err(format!(
                    "{} <-> {} {child}: {in_a}/{out_a} vs {in_b}/{out_b}",
                    name(l.a),
                    name(l.b)
                ));
            }
            assert_ne!(in_a, out_a);
            gsas += 1;
        }
    }
    for (k, v) in views.iter().enumerate() {
        let outs: BTreeSet<&String> = v.values().map(|(_, o)| o).collect();
        let ins: BTreeSet<&String> = v.values().map(|(i, _)| i).collect();
        assert_eq!(outs.len(), v.len(), "{}: {v:?}", name(k));
        assert_eq!(ins.len(), v.len(), "{}: {v:?}", name(k));
    }
    Ok((mesh.links.len(), gsas))
}

/// Ping both ways across every link on each authorized child, `count` each; returns the
/// number of requests sent. Red on every link first, then blue (each link's first ping is
/// from its lower-numbered end, so a trap starts one IKE SA per pair).
fn ping_all(t: &Topology, mesh: &Mesh, nves: &[Nve], count: u32) -> u32 {
    let mut sent = 0;
    for (child, _, _, oct) in NETS {
        for l in mesh
            .links
            .iter()
            .filter(|l| l.authorized().contains(&child))
        {
            for (i, j) in [(l.a, l.b), (l.b, l.a)] {
                let (rx, text) = ping(&t.nve(i).ns, &tenant(oct, j), count, 2);
                assert_eq!(
                    rx,
                    count,
                    "{} -> {} {child}: {text}\n{}",
                    name(i),
                    name(j),
                    logs(nves)
                );
                sent += count;
            }
        }
    }
    sent
}

fn drops(stats: &str) -> u64 {
    ["hold_timeout", "queue_full", "no_gsa", "discard"]
        .iter()
        .map(|k| json_u64(stats, k).unwrap_or(0))
        .sum()
}

fn wait_log(n: &Nve, needle: &str, timeout: Duration) -> String {
    let end = Instant::now() + timeout;
    loop {
        let log = n.log();
        if let Some(l) = log.lines().find(|l| l.contains(needle)) {
            return l.to_string();
        }
        assert!(
            Instant::now() < end,
            "{}: no '{needle}' in\n{log}",
            n.cfg.name
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn mesh_authz() {
    require_root();
    let mut sc = Scenario::start("mesh-authz");
    let started = Instant::now();
    let t = Topology::build("bridge 5").unwrap();
    let ca = Ca::new().unwrap();
    let mut mesh = Mesh::full(4, "trap");
    // NVE 1 authorizes only VNI 100 towards NVE 2; NVE 2 would send VNI 200 to NVE 1 too.
    mesh.links[0].children_a = vec!["red"];
    // NVE 5 has one connection, to NVE 4, with a PSK.
    mesh.links.push(Link::new(3, 4, true));
    mesh.n = 5;
    let nves = mesh.start(&t, &ca);
    for n in &nves {
        assert!(n.wait_sas(Duration::from_secs(1), |s| s.is_empty()).is_ok());
    }

    let sent = ping_all(&t, &mesh, &nves, 1);
    let (ikes, gsas) = assert_sas(&mesh, &nves, Duration::from_secs(5));
    assert_eq!((ikes, gsas), (7, 13));
    sc.figure(format!(
        "{ikes} IKE SAs, {gsas} GSA pairs, {sent}/{sent} pings"
    ));

    // VNI 200 between NVE 1 and NVE 2, both ways: nothing arrives.
    let (a, b) = (&nves[0], &nves[1]);
    let (before_a, before_b) = (stats(a), stats(b));
    let log_mark = a.log().lines().count();
    let (rx, text) = ping(&t.nve(1).ns, &tenant(200, 0), 3, 1);
    assert_eq!(rx, 0, "nve2 -> nve1 on VNI 200: {text}");
    let (rx, text) = ping(&t.nve(0).ns, &tenant(200, 1), 3, 1);
    assert_eq!(rx, 0, "nve1 -> nve2 on VNI 200: {text}");
    // NVE 2 asked for the GSA and NVE 1 refused it (RFC 7296 §2.9, TS_UNACCEPTABLE).
    let refused_b = wait_log(b, "blue refused (TS_UNACCEPTABLE)", Duration::from_secs(5));
    let refused_a = wait_log(
        a,
        "refused (TS_UNACCEPTABLE): requested VNIs",
        Duration::from_secs(5),
    );
    assert!(refused_a.contains("200"), "{refused_a}");
    // NVE 1's own ACQUIREs (VNI 200 towards NVE 2) find no connection to NVE 2 with that
    // child and must not be served by another peer's connection (the `blue` of nve3/nve4).
    let acq: Vec<String> = a
        .log()
        .lines()
        .skip(log_mark)
        .filter(|l| l.contains("acquire for policy 'blue-out' VNI 200"))
        .map(str::to_string)
        .collect();
    assert!(
        !acq.is_empty(),
        "nve1 sent no ACQUIRE for VNI 200:\n{}",
        a.log()
    );
    for l in &acq {
        assert!(
            l.contains("no connection"),
            "nve1 answered the ACQUIRE elsewhere: {l}"
        );
    }
    // Held packets are dropped when the hold timeout (3 s) runs out.
    std::thread::sleep(Duration::from_millis(3500));
    let (after_a, after_b) = (stats(a), stats(b));
    let dropped_b = drops(&after_b) - drops(&before_b);
    let dropped_a = drops(&after_a) - drops(&before_a);
    assert!(
        dropped_b >= 3,
        "nve2 dropped {dropped_b}: {before_b}\n{after_b}"
    );
    assert!(
        dropped_a >= 3,
        "nve1 dropped {dropped_a}: {before_a}\n{after_a}"
    );
    assert!(
        json_u64(&after_b, "acquires").unwrap() > json_u64(&before_b, "acquires").unwrap(),
        "{after_b}"
    );
    assert_eq!(
        json_u64(&after_a, "delivered_secured"),
        json_u64(&before_a, "delivered_secured"),
        "nve1 delivered something from nve2 on VNI 200"
    );
    // VNI 100 between them still works; no blue GSA exists on either side.
    for (i, j) in [(0, 1), (1, 0)] {
        let (rx, text) = ping(&t.nve(i).ns, &tenant(100, j), 2, 2);
        assert_eq!(rx, 2, "{} -> {} red: {text}", name(i), name(j));
    }
    assert_sas(&mesh, &nves, Duration::from_secs(5));
    for n in &nves {
        let st = stats(n);
        assert_eq!(json_u64(&st, "sent_bypass"), Some(0), "{st}");
        assert_eq!(json_u64(&st, "bad_icv"), Some(0), "{st}");
        assert_eq!(json_u64(&st, "policy_mismatch"), Some(0), "{st}");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "took {took:?}");
    eprintln!("nve1: {refused_a}\nnve2: {refused_b}");
    sc.pass(format!(
        "{ikes} IKE SAs (4 cert mesh + 1 PSK), {gsas} GSA pairs mirrored, {sent}/{sent} pings; \
         unauthorized VNI 200: TS_UNACCEPTABLE, 0/6 pings, dropped nve1 +{dropped_a} nve2 +{dropped_b}; {:.1} s",
        took.as_secs_f64()
    ));
}

/// `nvesecctl ARGS` fired by every (NVE, peer[, child]) at the same instant; returns how many
/// commands succeeded. A collision may legitimately make one end's command fail (its SA lost
/// the tie-break), so the end state is what the caller asserts.
fn fire_together(nves: &[Nve], jobs: &[(usize, Vec<String>)]) -> usize {
    let barrier = Barrier::new(jobs.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(k, args)| {
                let (n, barrier) = (&nves[*k], &barrier);
                s.spawn(move || {
                    let a: Vec<&str> = args.iter().map(String::as_str).collect();
                    barrier.wait();
                    n.ctl(&a).is_ok()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count()
    })
}

/// IKE SAs per peer name, and GSAs per (peer, child), as listed now.
fn census(n: &Nve) -> (BTreeMap<String, usize>, BTreeMap<(String, String), usize>) {
    let v = n.ctl_json(&["--list-sas"]).unwrap();
    let mut ike = BTreeMap::new();
    let mut gsa = BTreeMap::new();
    for sa in v["sas"].as_array().into_iter().flatten() {
        *ike.entry(s(&sa["name"])).or_default() += 1;
        for c in sa["children"].as_array().into_iter().flatten() {
            *gsa.entry((s(&sa["name"]), s(&c["name"]))).or_default() += 1;
        }
    }
    (ike, gsa)
}

/// Poll every NVE for `span`: the most GSAs of one child towards one peer seen at once.
fn max_gsas_during(nves: &[Nve], span: Duration) -> usize {
    let end = Instant::now() + span;
    let mut max = 0;
    while Instant::now() < end {
        for n in nves {
            let (_, gsa) = census(n);
            max = max.max(gsa.values().copied().max().unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    max
}

/// The IKE SAs' SPIs on each NVE: (peer -> "spi_i/spi_r").
fn ike_spis(nves: &[Nve]) -> Vec<BTreeMap<String, String>> {
    nves.iter()
        .map(|n| {
            let v = n.ctl_json(&["--list-sas"]).unwrap();
            v["sas"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|sa| (s(&sa["name"]), format!("{}/{}", sa["spi_i"], sa["spi_r"])))
                .collect()
        })
        .collect()
}

#[test]
fn mesh_collisions() {
    require_root();
    let mut sc = Scenario::start("mesh-collisions");
    let started = Instant::now();
    let t = Topology::build("bridge 4").unwrap();
    let ca = Ca::new().unwrap();
    let mesh = Mesh::full(4, "trap");
    let nves = mesh.start(&t, &ca);

    // Every NVE initiates every connection (with `red` in IKE_AUTH) at the same instant:
    // each pair's two IKE_SA_INITs cross on the wire.
    let mut jobs = Vec::new();
    for k in 0..mesh.n {
        for (j, _, _) in mesh.peers(k) {
            let args = [
                "--initiate",
                "--ike",
                &name(j),
                "--child",
                "red",
                "--timeout",
                "10",
            ];
            jobs.push((k, args.iter().map(|a| a.to_string()).collect()));
        }
    }
    let ok = fire_together(&nves, &jobs);
    for (k, n) in nves.iter().enumerate() {
        let peers: Vec<String> = mesh.expected(k).into_keys().collect();
        n.wait_sas(Duration::from_secs(10), |sas| {
            let mut names: Vec<String> = sas.iter().map(|sa| s(&sa["name"])).collect();
            names.sort();
            names == peers && sas.iter().all(|sa| sa["state"] == "ESTABLISHED")
        })
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", n.cfg.name, logs(&nves)));
    }
    let sent = ping_all(&t, &mesh, &nves, 2);
    let (ikes, gsas) = assert_sas(&mesh, &nves, Duration::from_secs(5));
    assert_eq!((ikes, gsas), (6, 12));
    sc.figure(format!(
        "{} initiates at once -> {ikes} IKE SAs",
        jobs.len()
    ));

    // Every IKE SA rekeyed from both ends at once (§2.8.2: one new SA survives per pair).
    let spis_before = ike_spis(&nves);
    let mut jobs = Vec::new();
    for k in 0..mesh.n {
        for (j, _, _) in mesh.peers(k) {
            jobs.push((k, vec!["--rekey".into(), "--ike".into(), name(j)]));
        }
    }
    let ike_ok = fire_together(&nves, &jobs);
    assert_eq!(ike_ok, jobs.len(), "{}", logs(&nves));
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let spis = ike_spis(&nves);
        let rekeyed = spis.iter().zip(&spis_before).all(|(now, before)| {
            now.len() == before.len() && now.iter().all(|(p, spi)| before.get(p) != Some(spi))
        });
        if rekeyed {
            break;
        }
        assert!(
            Instant::now() < end,
            "IKE SAs not all rekeyed: {spis:?} (before {spis_before:?})\n{}",
            logs(&nves)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_sas(&mesh, &nves, Duration::from_secs(10));
    let sent_ike = ping_all(&t, &mesh, &nves, 1);

    // Every GSA rekeyed from both ends at once (§2.8.1), a ping stream running through it.
    let ids_before: Vec<_> = nves
        .iter()
        .map(|n| {
            gsa_ids(
                n.ctl_json(&["--list-sas"]).unwrap()["sas"]
                    .as_array()
                    .unwrap(),
            )
        })
        .collect();
    let mut jobs = Vec::new();
    for k in 0..mesh.n {
        for (j, _, children) in mesh.peers(k) {
            for c in children {
                jobs.push((
                    k,
                    vec![
                        "--rekey".into(),
                        "--ike".into(),
                        name(j),
                        "--child".into(),
                        c.to_string(),
                    ],
                ));
            }
        }
    }
    let (stream_rx, max_gsas, gsa_ok) = std::thread::scope(|s| {
        let stream = s.spawn(|| ping(&t.nve(0).ns, &tenant(100, 1), 40, 2));
        std::thread::sleep(Duration::from_millis(500));
        let ok = fire_together(&nves, &jobs);
        let max = max_gsas_during(&nves, Duration::from_secs(4));
        (stream.join().unwrap(), max, ok)
    });
    assert_eq!(gsa_ok, jobs.len(), "{}", logs(&nves));
    // Crossed rekeys (RFC 7296 §2.8.1) complete both exchanges before the redundant pair is
    // deleted: old + two new GSAs for a moment, never more.
    assert!(max_gsas <= 3, "{max_gsas} GSAs of one child at once");
    assert_eq!(
        stream_rx.0,
        40,
        "ping through the GSA rekeys: {}\n{}",
        stream_rx.1,
        logs(&nves)
    );
    assert_sas(&mesh, &nves, Duration::from_secs(10));
    for (k, n) in nves.iter().enumerate() {
        let now = gsa_ids(
            n.ctl_json(&["--list-sas"]).unwrap()["sas"]
                .as_array()
                .unwrap(),
        );
        for (key, ids) in &now {
            let old = &ids_before[k][key];
            assert!(
                ids.0 != old.0 && ids.1 != old.1,
                "{}: {key:?} not rekeyed: {old:?} -> {ids:?}",
                name(k)
            );
        }
    }
    let sent_gsa = ping_all(&t, &mesh, &nves, 1);
    for n in &nves {
        let st = stats(n);
        assert_eq!(json_u64(&st, "sent_bypass"), Some(0), "{st}");
        assert_eq!(json_u64(&st, "bad_icv"), Some(0), "{st}");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "took {took:?}");
    let pings = sent + sent_ike + sent_gsa;
    sc.pass(format!(
        "{} crossed initiates ({ok} returned ok) -> {ikes} IKE SAs, {gsas} GSA pairs; {} crossed IKE rekeys -> {ikes}; \
         {} crossed GSA rekeys -> at most {max_gsas} GSAs/child, 1 after, 40/40 stream pings; {pings}/{pings} pings; {:.1} s",
        2 * ikes,
        2 * ikes,
        2 * gsas,
        took.as_secs_f64()
    ));
}

/// Scenario 5, the other way to collide: every child `start_action = start` and all four
/// daemons started at once, so every NVE initiates every connection as it comes up.
#[test]
fn mesh_start_together() {
    require_root();
    let mut sc = Scenario::start("mesh-start-together");
    let started = Instant::now();
    let t = Topology::build("bridge 4").unwrap();
    let ca = Ca::new().unwrap();
    let mesh = Mesh::full(4, "start");
    let nves = mesh.start(&t, &ca);
    let daemons = Instant::now();
    // Only `red` rides in IKE_AUTH: `blue` (start too) needs its own CREATE_CHILD_SA.
    let (ikes, gsas) = assert_sas(&mesh, &nves, Duration::from_secs(15));
    assert_eq!((ikes, gsas), (6, 12));
    let up = daemons.elapsed();
    sc.figure(format!(
        "{ikes} IKE SAs, {gsas} GSA pairs after {:.1} s",
        up.as_secs_f64()
    ));
    // Collisions leave nothing behind: the census stays at one IKE SA per peer.
    std::thread::sleep(Duration::from_secs(2));
    assert_sas(&mesh, &nves, Duration::from_secs(1));
    let sent = ping_all(&t, &mesh, &nves, 1);
    for n in &nves {
        let st = stats(n);
        assert_eq!(json_u64(&st, "sent_bypass"), Some(0), "{st}");
        assert_eq!(json_u64(&st, "bad_icv"), Some(0), "{st}");
    }
    sc.pass(format!(
        "4 daemons started at once, start_action = start: {ikes} IKE SAs, {gsas} GSA pairs \
         mirrored {:.1} s after the daemons, {sent}/{sent} pings; {:.1} s",
        up.as_secs_f64(),
        started.elapsed().as_secs_f64()
    ));
}
