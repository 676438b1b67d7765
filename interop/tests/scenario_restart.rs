//! Issue 7, scenario 6: crash and restart, on two NVEs (nvesecd + gsa-dp each, certificates,
//! trap policies, `dpd_delay = 3s`) while A pings B at 20 packets/s:
//!
//! - `kill -9` of B's nvesecd and a restart: not one ping lost (gsa-dp keeps forwarding with
//!   the installed GSAs; the new nvesecd replaces them with INITIAL_CONTACT);
//! - `kill -9` of B's gsa-dp and a restart with the same arguments: nvesecd reconnects, pushes
//!   policies, routes and the tun address again and rekeys the lost GSAs; the tenant traffic
//!   is back within the DPD interval;
//! - a rebooted B (both daemons killed, a fresh tree and fresh daemons with `start_action =
//!   start`): its IKE_SA carries INITIAL_CONTACT, A drops the stale SA, and A's pings pass
//!   again within 5 s of B's start.

mod support_dyn;

use std::time::{Duration, Instant, SystemTime};

use nvesec_interop::nve::{Auth, Nve, NvePair};
use nvesec_interop::require_root;
use nvesec_interop::topology::Scenario;
use support_dyn::{
    count_lines, installed_pair, kill_gsa_dp, matching_pair, restart_gsa_dp, retune, save_logs,
    wall, PingStream,
};

const VNI: u32 = 100;
const DPD_SECS: f64 = 3.0;

/// A certificate pair with `dpd_delay = 3s`, SAs up by a first ping, GSAs matching.
fn pair_up() -> NvePair {
    let p = NvePair::new(VNI, Auth::Cert, "trap").unwrap();
    for n in [&p.a, &p.b] {
        retune(n, &["dpd_delay = 3s"], &[]);
    }
    let warm = PingStream::start(&p.ns_a, "172.16.0.2", 3, "0.2", 2).finish();
    assert_eq!(warm.received, 3, "{}\n{}", warm.text, p.a.log());
    matching_pair(&p);
    p
}

fn ike_spis(n: &Nve) -> Vec<(String, String)> {
    let v = n.ctl_json(&["--list-sas"]).unwrap();
    v["sas"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["spi_i"].as_str().unwrap_or_default().to_string(),
                        s["spi_r"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn killed_nvesecd_restarts_without_losing_a_ping() {
    require_root();
    let mut sc = Scenario::start("restart-nvesecd");
    let mut p = pair_up();
    let (old_a, _) = matching_pair(&p);
    let old_spis = ike_spis(&p.a);
    let pings = PingStream::start(&p.ns_a, "172.16.0.2", 120, "0.05", 2);
    std::thread::sleep(Duration::from_millis(1500));
    p.b.kill_daemon();
    std::thread::sleep(Duration::from_millis(500));
    let t_restart = Instant::now();
    p.b.start_daemon(&p.ns_b).unwrap();
    // The restarted daemon initiates at once for its stale GSAs (INITIAL_CONTACT).
    let deadline = Instant::now() + Duration::from_secs(6);
    let new_a = loop {
        if let (Some(a), Some(b)) = (installed_pair(&p.a), installed_pair(&p.b)) {
            if a.0 == b.1 && a.1 == b.0 && a != old_a {
                break a;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no new GSAs after the restart\n{}",
            p.b.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let rekeyed_after = t_restart.elapsed();
    let ping = pings.finish();
    save_logs(
        "restart-nvesecd",
        &[("nvesecd-a", p.a.log()), ("nvesecd-b", p.b.log())],
    );
    let figure = format!(
        "kill -9 + restart of nvesecd: {} pings at 20/s, {} lost, max gap {:.2} s; new GSAs {:.2} s after the restart",
        ping.transmitted,
        ping.lost(),
        ping.max_gap(),
        rekeyed_after.as_secs_f64()
    );
    sc.figure(figure.clone());
    eprintln!("{figure}");
    assert_eq!(ping.transmitted, 120, "{}", ping.text);
    assert_eq!(ping.lost(), 0, "lost pings {:?}", ping.missing());
    assert!(
        ping.max_gap() < 0.5,
        "replies stalled {:.2} s",
        ping.max_gap()
    );
    assert_ne!(new_a.0, old_a.0);
    assert_ne!(new_a.1, old_a.1);
    // A dropped the old IKE SA on INITIAL_CONTACT: one SA, a new one.
    let spis = ike_spis(&p.a);
    assert_eq!(spis.len(), 1, "{spis:?}");
    assert_ne!(spis, old_spis);
    assert!(
        p.a.log().contains("down: InitialContact"),
        "A did not take INITIAL_CONTACT: {}",
        p.a.log()
    );
    sc.pass(figure);
}

#[test]
fn restarted_gsa_dp_carries_traffic_again_within_the_dpd_interval() {
    require_root();
    let mut sc = Scenario::start("restart-gsa-dp");
    let p = pair_up();
    let (old_a, _) = matching_pair(&p);
    let pings = PingStream::start(&p.ns_a, "172.16.0.2", 160, "0.05", 1);
    std::thread::sleep(Duration::from_millis(1500));
    let t_kill = SystemTime::now();
    let respawned = restart_gsa_dp(&p.ns_b, &p.b);
    let restarted_in = t_kill.elapsed().unwrap_or_default();
    let ping = pings.finish();
    let end = wall(SystemTime::now());
    let (new_a, _) = matching_pair(&p);
    save_logs(
        "restart-gsa-dp",
        &[("nvesecd-a", p.a.log()), ("nvesecd-b", p.b.log())],
    );
    // The outage: the longest time without a reply from the kill to the end of the run.
    let outage = ping.max_gap_within(wall(t_kill), end);
    let back = ping.first_reply_after(t_kill + Duration::from_millis(100));
    let figure = format!(
        "gsa-dp kill -9 + restart ({:.2} s): outage {:.2} s (dpd_delay {DPD_SECS} s), {} of {} pings lost",
        restarted_in.as_secs_f64(),
        outage,
        ping.lost(),
        ping.transmitted
    );
    sc.figure(figure.clone());
    eprintln!("{figure}");
    assert!(back.is_some(), "no reply after the restart\n{}", ping.text);
    assert!(
        outage < DPD_SECS,
        "traffic was interrupted {outage:.2} s\n{}\n{}",
        ping.text,
        p.b.log()
    );
    // The last second of pings all came back: traffic is flowing again, not trickling.
    let tail: Vec<u64> = ping.missing().into_iter().filter(|s| *s > 140).collect();
    assert!(tail.is_empty(), "pings lost at the end: {tail:?}");
    assert_ne!(new_a, old_a, "the lost GSAs were negotiated again");
    let b_log = p.b.log();
    assert!(
        count_lines(&b_log, "connected to gsa-dp") >= 2,
        "B never reconnected: {b_log}"
    );
    drop(respawned);
    sc.pass(figure);
}

#[test]
fn rebooted_peer_is_back_within_five_seconds() {
    require_root();
    let mut sc = Scenario::start("reboot-peer");
    let mut p = pair_up();
    let old_spis = ike_spis(&p.a);
    let pings = PingStream::start(&p.ns_a, "172.16.0.2", 200, "0.05", 1);
    std::thread::sleep(Duration::from_millis(1500));
    // B goes down hard: both daemons killed, nothing sent to A.
    p.b.kill_daemon();
    kill_gsa_dp(&p.ns_b, &p.b);
    std::thread::sleep(Duration::from_millis(500));
    // B boots: a fresh tree (new certificate, no state), connections started at boot.
    let t_boot = SystemTime::now();
    let mut cfg = p.b.cfg.clone();
    cfg.start_action = "start".into();
    let fresh = Nve::start(&p.ns_b, &cfg, &p.ca).unwrap();
    let started_in = t_boot.elapsed().unwrap_or_default();
    p.b = fresh;
    let ping = pings.finish();
    save_logs(
        "reboot-peer",
        &[("nvesecd-a", p.a.log()), ("nvesecd-b", p.b.log())],
    );
    let back = ping.first_reply_after(t_boot);
    let figure = format!(
        "peer rebooted (daemons up in {:.2} s): A's pings back {} after the boot; {} of {} lost",
        started_in.as_secs_f64(),
        back.map_or("never".to_string(), |b| format!("{b:.2} s")),
        ping.lost(),
        ping.transmitted
    );
    sc.figure(figure.clone());
    eprintln!("{figure}");
    let back = back.unwrap_or_else(|| panic!("A's pings never came back\n{}", ping.text));
    assert!(
        back < 5.0,
        "back only after {back:.2} s\n{}\n{}",
        p.a.log(),
        p.b.log()
    );
    let tail: Vec<u64> = ping.missing().into_iter().filter(|s| *s > 180).collect();
    assert!(tail.is_empty(), "pings lost at the end: {tail:?}");
    matching_pair(&p);
    let spis = ike_spis(&p.a);
    assert_eq!(spis.len(), 1, "A keeps one IKE SA: {spis:?}");
    assert_ne!(spis, old_spis);
    assert!(
        p.a.log().contains("peer sent INITIAL_CONTACT") || p.a.log().contains("InitialContact"),
        "{}",
        p.a.log()
    );
    assert!(
        p.a.log().contains("down: InitialContact"),
        "A did not drop the stale SA on INITIAL_CONTACT: {}",
        p.a.log()
    );
    sc.pass(figure);
}
