//! The harness itself: namespaces, links and a real strongSwan come up and
//! go away again. Later scenarios build on these pieces.

use nvesec_interop::strongswan::Charon;
use nvesec_interop::{link, require_root, Netns};

#[test]
fn veth_link_carries_ping_and_namespaces_are_removed() {
    require_root();
    let (a, b) = (Netns::new("nvsa").unwrap(), Netns::new("nvsb").unwrap());
    let names = (a.name().to_string(), b.name().to_string());
    link(&a, "192.0.2.1/24", &b, "192.0.2.2/24").unwrap();
    let out = a
        .exec("ping", &["-c", "2", "-i", "0.2", "-W", "1", "192.0.2.2"])
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 received"));
    // The peer is unreachable from the host's own namespace.
    assert!(a
        .exec("ping", &["-c", "1", "-W", "1", "192.0.2.3"])
        .is_err());
    drop((a, b));
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        !list.contains(&names.0) && !list.contains(&names.1),
        "{list}"
    );
}

#[test]
fn strongswan_starts_in_a_namespace_and_answers_vici() {
    require_root();
    let ns = Netns::new("nvss").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let charon = Charon::start(&ns, dir.path(), "").unwrap();
    let stats = charon.swanctl(&["--stats"]).unwrap();
    let stats = String::from_utf8_lossy(&stats.stdout);
    assert!(stats.contains("IKE_SAs: 0 total"), "{stats}");
    assert!(stats.contains("curve25519"), "plugin list: {stats}");
}

/// A SIGKILLed run leaves its namespaces and the daemons in them behind (no destructor
/// runs). The next run's first namespace sweeps those whose creator is gone, killing what
/// runs inside; a namespace of a live process (another test binary) is left alone.
#[test]
fn namespaces_of_a_killed_run_are_swept() {
    require_root();
    let ip = |args: &[&str]| {
        let st = std::process::Command::new("ip")
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "ip {args:?}");
    };
    // A pid that no longer exists: a child that ran and was reaped.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let stale = format!("nvstale-{dead:x}-0");
    let live = format!("nvlive-{:x}-0", std::process::id());
    ip(&["netns", "add", &stale]);
    ip(&["netns", "add", &live]);
    let mut sleeper = std::process::Command::new("ip")
        .args(["netns", "exec", &stale, "sleep", "600"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    nvesec_interop::netns::sweep_stale();
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    let status = sleeper.wait().unwrap();
    ip(&["netns", "del", &live]);
    assert!(!list.contains(&stale), "stale namespace kept:\n{list}");
    assert!(
        list.contains(&live),
        "a live run's namespace was swept:\n{list}"
    );
    assert!(!status.success(), "the process left in it was not killed");
}
