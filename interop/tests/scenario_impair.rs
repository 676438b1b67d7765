//! Issue 7, scenario 7: underlay impairment. Two NVEs (nvesecd + gsa-dp, certificates, trap
//! policies) on a bridge; NVE 1's link loses 20 %, delays 50 ms +- 10 ms, duplicates 5 % and
//! reorders 25 % of the frames, in both directions (topology.rs's relay: this kernel has no
//! sch_netem). Trapped tenant pings bring the SAs up (IKE retransmits what the link loses);
//! then at least two GSA rekeys (CREATE_CHILD_SA, 3 s) and one IKE SA rekey (8 s) complete,
//! and both ends end in the same state: one IKE SA (not the first one), one installed GSA
//! pair, matching.

mod support_dyn;

use std::time::{Duration, Instant};

use nvesec_interop::attacker::DpCounters;
use nvesec_interop::nve::{Auth, Ca, Nve, NveConfig};
use nvesec_interop::require_root;
use nvesec_interop::topology::{Netem, Scenario, Topology};
use serde_json::Value;
use support_dyn::{count_lines, matching_pair_of, retune, save_logs, PingStream};

const VNI: u32 = 100;

fn cfg(me: usize, t: &Topology) -> NveConfig {
    let peer = 1 - me;
    NveConfig {
        name: format!("nve-{me}"),
        peer_name: format!("nve-{peer}"),
        underlay: t.nve(me).addr.to_string(),
        peer_underlay: t.nve(peer).addr.to_string(),
        vni: VNI,
        inner: format!("172.16.0.{}/24", me + 1),
        peer_inner: format!("172.16.0.{}/24", peer + 1),
        auth: Auth::Cert,
        start_action: "trap".into(),
        ifname: "nvt0".into(),
    }
}

/// (uid, spi_i, spi_r) of every IKE SA in `list-sas`.
fn ike_sas(n: &Nve) -> Vec<(u64, String, String)> {
    let v = n.ctl_json(&["--list-sas"]).unwrap_or(Value::Null);
    v["sas"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["uid"].as_u64().unwrap_or(0),
                        s["spi_i"].as_str().unwrap_or_default().to_string(),
                        s["spi_r"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sas_come_up_and_rekey_over_a_lossy_delaying_duplicating_reordering_underlay() {
    require_root();
    let mut sc = Scenario::start("impaired-underlay");
    let mut t = Topology::build("bridge 2").unwrap();
    let netem = Netem {
        loss_pct: 20.0,
        delay_ms: 50,
        jitter_ms: 10,
        duplicate_pct: 5.0,
        reorder_pct: 25.0,
    };
    let ca = Ca::new().unwrap();
    let a = Nve::start(&t.nve(0).ns, &cfg(0, &t), &ca).unwrap();
    let b = Nve::start(&t.nve(1).ns, &cfg(1, &t), &ca).unwrap();
    // GSA lifetimes leave room for IKE retransmissions (4 s, 7.2 s, ...) before the hard
    // expiry; A rekeys first (3 s and 8 s), B's later timers are a fallback.
    retune(
        &a,
        &["rekey_time = 8s", "over_time = 60s", "rand_time = 0s"],
        &["rekey_time = 3s", "life_time = 40s", "rand_time = 0s"],
    );
    retune(
        &b,
        &["rekey_time = 30s", "over_time = 60s", "rand_time = 0s"],
        &["rekey_time = 6s", "life_time = 40s", "rand_time = 0s"],
    );
    t.set_impairment(1, netem.clone()).unwrap();
    eprintln!("{}", t.describe());

    // Trap by ping, with retries: the first request waits in gsa-dp's hold queue (3 s) and
    // later ones raise ACQUIREs while IKE retransmits.
    let t0 = Instant::now();
    let up = loop {
        let r = PingStream::start(&t.nve(0).ns, "172.16.0.2", 5, "0.2", 1).finish();
        if r.received > 0 {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(45),
            "no SA after {:?}\n--- A ---\n{}\n--- B ---\n{}",
            t0.elapsed(),
            a.log(),
            b.log()
        );
    };
    let first_ike = ike_sas(&a);
    let (first_gsa, _) = matching_pair_of(&a, &b, Duration::from_secs(15));
    let before = (
        DpCounters::fetch(&a.dp).unwrap(),
        DpCounters::fetch(&b.dp).unwrap(),
    );
    let rekeys_before = count_lines(&a.log(), ", replaces ");

    // Light tenant traffic while the rekeys run; wait for 2 GSA rekeys and 1 IKE rekey.
    let pings = PingStream::start(&t.nve(0).ns, "172.16.0.2", 100_000, "0.2", 1);
    let t1 = Instant::now();
    let (gsa_rekeys, ike_rekeys) = loop {
        let (la, lb) = (a.log(), b.log());
        let g = count_lines(&la, ", replaces ") - rekeys_before;
        let i = count_lines(&la, " rekeyed, was ").min(count_lines(&lb, " rekeyed, was "));
        if g >= 2 && i >= 1 {
            break (g, i);
        }
        assert!(
            t1.elapsed() < Duration::from_secs(50),
            "after {:?}: {g} GSA rekeys, {i} IKE rekeys\n--- A ---\n{la}\n--- B ---\n{lb}",
            t1.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let rekeyed_in = t1.elapsed();
    drop(pings); // killed: its summary is not needed, the counters below are
                 // Both ends agree: one IKE SA, not the first, the same SPIs; one installed GSA pair.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (ia, ib) = loop {
        let (ia, ib) = (ike_sas(&a), ike_sas(&b));
        if ia.len() == 1 && ib.len() == 1 && ia[0].1 == ib[0].1 && ia[0].2 == ib[0].2 {
            break (ia, ib);
        }
        assert!(Instant::now() < deadline, "IKE SAs: A {ia:?}, B {ib:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let (gsa_a, gsa_b) = matching_pair_of(&a, &b, Duration::from_secs(20));
    let after = (
        DpCounters::fetch(&a.dp).unwrap(),
        DpCounters::fetch(&b.dp).unwrap(),
    );
    let replays = after.0.get("replay") - before.0.get("replay") + after.1.get("replay")
        - before.1.get("replay");
    let retransmits = count_lines(&a.log(), "retransmit") + count_lines(&b.log(), "retransmit");
    // Traffic still passes (each ping crosses the lossy link twice: ~64 % come back).
    let last = PingStream::start(&t.nve(0).ns, "172.16.0.2", 20, "0.1", 1).finish();
    save_logs("impair", &[("nvesecd-a", a.log()), ("nvesecd-b", b.log())]);
    let figure = format!(
        "{netem}: SAs up in {:.1} s; {gsa_rekeys} GSA + {ike_rekeys} IKE rekeys in {:.1} s; \
         {retransmits} IKE retransmits logged, {replays} duplicates dropped as replays; \
         final ping {}/20, {} DUP",
        up.as_secs_f64(),
        rekeyed_in.as_secs_f64(),
        last.received,
        last.duplicates
    );
    sc.figure(figure.clone());
    eprintln!("{figure}");
    assert_ne!(
        (ia[0].1.clone(), ia[0].2.clone()),
        (first_ike[0].1.clone(), first_ike[0].2.clone()),
        "A's IKE SA was rekeyed"
    );
    assert_ne!(gsa_a.0, first_gsa.0, "the GSA pair was rekeyed");
    eprintln!("final: IKE A {ia:?} B {ib:?}; GSAs A {gsa_a:?} B {gsa_b:?}");
    assert!(last.received >= 5, "{}", last.text);
    assert_eq!(last.duplicates, 0, "duplicated frames reached the tenant");
    sc.pass(figure);
}
