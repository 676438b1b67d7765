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
