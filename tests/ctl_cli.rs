//! nvesecctl end to end against a control server with canned state.

mod ctl_support;

use ctl_support::{ctl, ctl_as, ctl_ok, Daemon};
use nvesec::ctl::fixtures;
use nvesec::ctl::server::ServerLimits;
use nvesec_gsa_dp::io::local_socket::Access;
use std::os::unix::fs::PermissionsExt;

const LIST_SAS: &str = "\
gw: #3, ESTABLISHED, IKEv2, 8a3f1c2d4e5f6071_i* 1122334455667788_r
  local  'CN=nve1' @ 192.0.2.1[500]
  remote 'CN=nve2' @ 192.0.2.2[500]
  AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519
  established 801s ago, rekeying in 13599s
  net: #1, reqid 1, INSTALLED, GEO:AES_GCM_16-256
    installed 801s ago, rekeying in 2799s, expires in 3159s
    in  c39845d7,   1234 bytes,     5 packets,     3s ago
    out cfaa84e8,  98765 bytes,    70 packets,     1s ago
    local  vni 100 10.1.0.0/16
    remote vni 100-101[0x6558] 10.2.0.0/16
edge: #4, CONNECTING, IKEv2, 0000000000000abc_i 0000000000000000_r*
  local  'CN=nve1' @ 2001:db8::1[4500]
  remote 'CN=nve3' @ 2001:db8::3[4500]
";

#[test]
fn list_sas_text_long_and_short() {
    let d = Daemon::start();
    assert_eq!(ctl_ok(&d.path, &["--list-sas"]), LIST_SAS);
    assert_eq!(ctl_ok(&d.path, &["-l"]), LIST_SAS);
}

#[test]
fn list_sas_filter_goes_to_daemon() {
    let d = Daemon::start();
    let out = ctl_ok(&d.path, &["-l", "--ike", "edge"]);
    assert!(out.starts_with("edge: #4, CONNECTING"), "{out}");
    assert!(!out.contains("gw:"), "{out}");
    let out = ctl_ok(&d.path, &["-l", "--ike-id", "3", "--child", "other"]);
    assert!(out.starts_with("gw: #3"), "{out}");
    assert!(!out.contains("net: #1"), "child filtered out: {out}");
}

#[test]
fn list_sas_json_styles() {
    let d = Daemon::start();
    let expected = serde_json::json!({ "sas": fixtures::sas() });
    for flag in ["--json", "--pretty", "--raw"] {
        let out = ctl_ok(&d.path, &["-l", flag]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, expected, "{flag}");
        assert_eq!(out.lines().count() == 1, flag == "--raw", "{flag}: {out}");
    }
    let out = ctl_ok(&d.path, &["-l", "--raw"]);
    assert!(
        out.contains(r#""spi_i":"8a3f1c2d4e5f6071""#) && out.contains(r#""gsa_id_in":"c39845d7""#),
        "hex ids on the wire: {out}"
    );
    // Field order follows the schema in docs/cli.md (not sorted).
    assert!(
        out.starts_with(r#"{"sas":[{"name":"gw","uid":3,"state":"ESTABLISHED","#),
        "{out}"
    );
}

#[test]
fn other_listings() {
    let d = Daemon::start();
    assert_eq!(
        ctl_ok(&d.path, &["-S"]),
        "uptime: 3 minutes, since 2025-01-02 01:04:05 UTC\nIKE_SAs: 2 total, 1 half-open\n\
         GSAs: 1 installed\nloaded: 1 connections, 2 certificates\ndataplane: connected\n\
         control clients: 1\n"
    );
    assert_eq!(ctl_ok(&d.path, &["--stats"]), ctl_ok(&d.path, &["-S"]));
    let c = ctl_ok(&d.path, &["-C"]);
    assert!(
        c.starts_with("List of GSA counters:\n\n  c39845d7 in  gw/net"),
        "{c}"
    );
    assert!(
        c.ends_with("  replay                   2\n  no-gsa                   7\n"),
        "{c}"
    );
    let l = ctl_ok(&d.path, &["-L"]);
    assert!(
        l.starts_with("gw: IKEv2, no reauthentication, rekeying every 14400s\n"),
        "{l}"
    );
    let x = ctl_ok(&d.path, &["-x"]);
    assert!(x.contains("  subject:  \"CN=nve1\"\n"), "{x}");
    assert_eq!(
        ctl_ok(&d.path, &["-P"]),
        "gw/net, out, SECURE, GEO\n  local:  vni 100\n  remote: vni 100\n"
    );
    assert_eq!(
        ctl_ok(&d.path, &["-V"]),
        format!(
            "nvesecctl {}\nnvesecd 0.1.0, Linux 6.1.0, x86_64\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(
        ctl_ok(&d.path, &["-q"]),
        "loaded connection 'gw'\nsuccessfully loaded 1 connections, 0 unloaded\n"
    );
    let v: serde_json::Value =
        serde_json::from_str(&ctl_ok(&d.path, &["--counters", "--reset", "--json"])).unwrap();
    assert_eq!(v["drops"][1]["reason"], "no-gsa");
    assert_eq!(v["gsas"][0]["gsa_id"], "c39845d7");
}

#[test]
fn actions_and_errors() {
    let d = Daemon::start();
    assert_eq!(
        ctl_ok(&d.path, &["-i", "--child", "net", "--timeout", "5"]),
        "initiated 'net'\ninitiate completed successfully\n"
    );
    let (out, err, code) = ctl(&d.path, &["--initiate", "--ike", "nope"]);
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("", "initiate failed: no config named 'nope'\n", 1)
    );
    let (_, err, code) = ctl(&d.path, &["-i"]);
    assert_eq!(code, 1);
    assert_eq!(err, "initiate: initiate needs \"child\" or \"ike\"\n");
    assert_eq!(
        ctl_ok(&d.path, &["-t", "--ike-id", "3", "--force"]),
        "terminated 3 force=true\nterminate completed successfully\n"
    );
    assert_eq!(
        ctl_ok(&d.path, &["-R", "--ike", "gw", "--reauth"]),
        "rekey reauth=true\nrekey completed successfully\n"
    );
    // Two commands at once is a usage error (clap exits 2).
    let (_, _, code) = ctl(&d.path, &["-l", "-S"]);
    assert_eq!(code, 2);
}

#[test]
fn show_like_wg() {
    let d = Daemon::start();
    let all = ctl_ok(&d.path, &["show"]);
    assert!(
        all.starts_with("peer: gw\n  identity: CN=nve2\n  endpoint: 192.0.2.2:500\n"),
        "{all}"
    );
    assert!(all.contains("\npeer: edge\n"), "{all}");
    assert_eq!(
        ctl_ok(&d.path, &["show", "gw"]),
        "peer: gw\n  identity: CN=nve2\n  endpoint: 192.0.2.2:500\n  ike sa: #3, ESTABLISHED\n  \
         latest handshake: 13 minutes, 21 seconds ago\n  \
         transfer: 1.21 KiB received, 96.45 KiB sent\n  gsa-ids: in c39845d7 out cfaa84e8\n  \
         next rekey: in 46 minutes, 39 seconds\n"
    );
    // By remote identity too, and as dump.
    assert_eq!(
        ctl_ok(&d.path, &["show", "CN=nve2", "dump"]),
        "gw\t3\tCN=nve2\t192.0.2.2:500\tESTABLISHED\t801\t1234\t98765\tc39845d7\tcfaa84e8\t2799\n"
    );
    assert_eq!(ctl_ok(&d.path, &["show", "dump"]).lines().count(), 2);
    let (_, err, code) = ctl(&d.path, &["show", "nope"]);
    assert_eq!(
        (err.as_str(), code),
        ("show failed: no such peer 'nope'\n", 1)
    );
}

#[test]
fn not_running_message() {
    let dir = tempfile::tempdir().unwrap();
    // Absent socket.
    let path = dir.path().join("ctl.sock");
    let (out, err, code) = ctl(&path, &["-l"]);
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!(
            "cannot connect to {}: is nvesecd running?\n",
            path.display()
        )
    );
    assert_eq!(code, 1);
    // A stale socket file nobody listens on: connection refused.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let (_, err, code) = ctl(&path, &["show"]);
    assert_eq!(
        err,
        format!(
            "cannot connect to {}: is nvesecd running?\n",
            path.display()
        )
    );
    assert_eq!(code, 1);
}

#[test]
fn socket_from_environment_and_default() {
    let d = Daemon::start();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nvesecctl"))
        .arg("-P")
        .env("NVESEC_CTL_SOCKET", &d.path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .starts_with("gw/net, out, SECURE"));
    if !std::path::Path::new("/run/nvesec/ctl.sock").exists() {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nvesecctl"))
            .arg("-l")
            .env_remove("NVESEC_CTL_SOCKET")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stderr).unwrap(),
            "cannot connect to /run/nvesec/ctl.sock: is nvesecd running?\n"
        );
        assert_eq!(out.status.code(), Some(1));
    }
}

#[test]
fn socket_is_owner_only() {
    let d = Daemon::start();
    let mode = std::fs::metadata(&d.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // A second server on the same live socket is refused.
    let e = match nvesec::ctl::server::ControlServer::bind(&d.path) {
        Err(e) => e,
        Ok(_) => panic!("second bind succeeded"),
    };
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
}

/// nobody / nogroup on Debian.
const NOBODY: u32 = 65534;

#[test]
fn non_root_client_refused_with_a_clear_message() {
    let d = Daemon::start_access(ServerLimits::default(), Access::root_only());
    // Root is served.
    let (out, _, code) = ctl(&d.path, &["-P"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("gw/net, out, SECURE"));
    // Through the 0700 directory and the 0600 socket nobody does not even get
    // to connect.
    let (_, err, code) = ctl_as(NOBODY, NOBODY, &d.path, &["-P"]);
    assert_eq!(
        (err, code),
        (
            format!(
                "cannot connect to {}: permission denied (run as root)\n",
                d.path.display()
            ),
            1
        )
    );
    // Should the modes be widened, SO_PEERCRED still refuses it.
    let run = d.path.parent().unwrap();
    std::fs::set_permissions(run, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&d.path, std::fs::Permissions::from_mode(0o666)).unwrap();
    for args in [&["-P"][..], &["--log"], &["show"]] {
        let (out, err, code) = ctl_as(NOBODY, NOBODY, &d.path, args);
        assert_eq!((out.as_str(), code), ("", 1), "{args:?}");
        // (`show failed: ` in front for show.)
        assert!(
            err.contains("nvesecd: permission denied: uid 65534 gid 65534 pid "),
            "{args:?}: {err}"
        );
        assert!(
            err.ends_with(" refused (allowed: root; primary group only)\n"),
            "{err}"
        );
    }
    let mut server = d.stop();
    assert_eq!(server.refused_total(), 3);
    let refused = server.take_refused();
    assert_eq!(refused.len(), 3);
    assert!(refused
        .iter()
        .all(|r| r.peer.is_some_and(|p| (p.uid, p.gid) == (NOBODY, NOBODY))));
}

#[test]
fn group_members_are_served() {
    let access = Access::with_gid("nogroup", NOBODY);
    let d = Daemon::start_access(ServerLimits::default(), access);
    let (out, err, code) = ctl_as(NOBODY, NOBODY, &d.path, &["-P"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("gw/net, out, SECURE"));
    // Another non-root primary group is refused by the socket's mode.
    let (_, err, code) = ctl_as(NOBODY, 1, &d.path, &["-P"]);
    assert_eq!(code, 1);
    assert!(err.contains("permission denied"), "{err}");
    assert_eq!(d.stop().refused_total(), 0);
}
