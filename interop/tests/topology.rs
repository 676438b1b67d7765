//! The topology builder itself: reachability over the bridge, netem impairments that really
//! impair, and nothing left behind after drop (also after a panic).

use nvesec_interop::topology::{Netem, Scenario, Topology};
use nvesec_interop::{require_root, Netns};

fn pings(ns: &Netns, dst: &str, count: u32) -> bool {
    ns.command("ping")
        .args(["-c", &count.to_string(), "-i", "0.2", "-W", "1", "-q", dst])
        .output()
        .expect("run ping")
        .status
        .success()
}

fn netns_list() -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn gone(names: &[String]) -> bool {
    let list = netns_list();
    names.iter().all(|n| {
        !list
            .lines()
            .any(|l| l.split_whitespace().next() == Some(n.as_str()))
    })
}

#[test]
fn three_nves_on_a_bridge_reach_each_other_and_loss_cuts_one_off() {
    require_root();
    let mut sc = Scenario::start("topology-bridge-netem");
    let mut t = Topology::build("bridge 3").unwrap();
    let names = t.namespaces();
    assert_eq!(names.len(), 4, "3 NVEs + hub\n{}", t.describe());
    eprintln!("{}", t.describe());
    for i in 0..3 {
        for j in 0..3 {
            if i != j {
                let dst = t.nve(j).addr.to_string();
                assert!(pings(&t.nve(i).ns, &dst, 1), "nve{i} -> nve{j}");
            }
        }
    }
    // IPv6 on the same underlay.
    let dst6 = t.nve(1).addr6.to_string();
    assert!(pings(&t.nve(0).ns, &dst6, 1), "nve0 -> nve1 over IPv6");

    t.set_impairment(2, Netem::loss(100.0)).unwrap();
    assert!(t.describe().contains("[loss 100%]"), "{}", t.describe());
    let to2 = t.nve(2).addr.to_string();
    assert!(!pings(&t.nve(0).ns, &to2, 2), "nve2's link drops all");
    assert!(!pings(&t.nve(1).ns, &to2, 2), "nve2's link drops all");
    let to1 = t.nve(1).addr.to_string();
    assert!(pings(&t.nve(0).ns, &to1, 2), "nve0 <-> nve1 unaffected");

    // Removing the impairment restores the link.
    t.set_impairment(2, Netem::default()).unwrap();
    assert!(pings(&t.nve(0).ns, &to2, 1), "nve2 back");
    drop(t);
    assert!(gone(&names), "left behind: {}", netns_list());
    sc.figure("3 NVEs, 6 pairs");
    sc.pass("3 NVEs: 6/6 pairs reach, loss 100% cuts nve2 only, 0 namespaces left");
}

#[test]
fn delay_shows_in_the_round_trip() {
    require_root();
    let t = Topology::build("p2p; nve0 delay 100ms 5ms").unwrap();
    let out = t
        .nve(0)
        .ns
        .command("ping")
        .args(["-c", "2", "-i", "0.2", "-W", "2"])
        .arg(t.nve(1).addr.to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // Both directions are delayed: rtt >= 2 x (100 - 5) ms.
    let rtts: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|v| v.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(rtts.len(), 2, "{text}");
    assert!(rtts.iter().all(|r| *r >= 190.0 && *r < 400.0), "{rtts:?}");
}

#[test]
fn duplicate_shows_as_dup_replies() {
    require_root();
    let t = Topology::build("bridge 2; nve1 duplicate 100%").unwrap();
    let out = t
        .nve(0)
        .ns
        .command("ping")
        .args(["-c", "3", "-i", "0.2", "-W", "1"])
        .arg(t.nve(1).addr.to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DUP!"), "{text}");
}

#[test]
fn everything_is_removed_after_a_panic() {
    require_root();
    let names = std::sync::Mutex::new(Vec::new());
    let r = std::panic::catch_unwind(|| {
        let t = Topology::build("bridge 2; attacker").unwrap();
        *names.lock().unwrap() = t.namespaces();
        assert!(!gone(&t.namespaces()));
        panic!("a failing scenario");
    });
    assert!(r.is_err());
    let names = names.into_inner().unwrap();
    assert_eq!(names.len(), 4, "2 NVEs + attacker + hub");
    assert!(gone(&names), "left behind: {}", netns_list());
}

#[test]
fn bad_description_is_an_error_and_builds_nothing() {
    require_root();
    let before = netns_list();
    let e = Topology::build("bridge 2; nve5 loss 1%").unwrap_err();
    assert!(e.to_string().contains("nve5 does not exist"), "{e}");
    assert_eq!(before, netns_list());
}
