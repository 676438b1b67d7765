//! The nvesecd binary without namespaces or root: UDP ports 0, a stand-in gsa-dp on a thread
//! that answers with the real `nvesec_gsa_dp::Dataplane` and records every request. Checks the
//! start-up synchronisation (DUMP, SET_GSP, SET_ROUTES, stale GSAs), the control socket
//! (mode 0600, live answers), a refused reload and a clean SIGTERM.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nvesec::ctl::client::Client;
use nvesec::ctl::proto::{Command as Cmd, Reply};
use nvesec::daemon::translate::reqid;
use nvesec_gsa_dp::keying::{self, Reply as DpReply};
use nvesec_gsa_dp::{Dataplane, DataplaneConfig};

const CONF: &str = r#"
connections {
  gw {
    local_addrs = 127.0.0.1
    remote_addrs = 127.0.0.2
    remote_port = 1
    local {
      auth = psk
      id = a.example
    }
    remote {
      auth = psk
      id = b.example
    }
    children {
      net {
        vnis = 100
      }
    }
  }
}
secrets {
  ike-b {
    id = b.example
    secret = 0sc2VjcmV0LXNlY3JldC1zZWNyZXQ=
  }
}
overlay {
  networks {
    n {
      vni = 100
      peers {
        b {
          underlay = 127.0.0.2
          prefixes = 10.9.0.0/24
        }
      }
    }
  }
}
policies {
  out {
    vnis = 100
    action = secure
    gsas = gw.net
  }
  in {
    direction = in
    vnis = 100
    action = secure
    gsas = gw.net
  }
}
"#;

fn add_gsa(seq: u64, dir: &str, id: u32, reqid: u32) -> String {
    format!(
        r#"{{"v":1,"seq":{seq},"op":"ADD_GSA","gsa":{{"dir":"{dir}","gsa_id":{id},"reqid":{reqid},"alg":"aes-gcm128","key":"000102030405060708090a0b0c0d0e0f10111213"}}}}"#
    )
}

/// A gsa-dp stand-in: one client at a time, every request line recorded.
fn fake_dp(path: &Path, seen: Arc<Mutex<Vec<String>>>, known: u32) {
    let listener = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        let mut dp = Dataplane::new(DataplaneConfig::default());
        let now = Instant::now();
        // GSAs from "before the restart": one of a configured child, one of nothing.
        for (i, line) in [
            add_gsa(1, "in", 0x11, known),
            add_gsa(2, "out", 0x22, known),
            add_gsa(3, "out", 0x33, 4242),
        ]
        .iter()
        .enumerate()
        {
            let r = dp.handle_request(now, keying::decode_request(line).unwrap());
            assert!(r.ok, "setup {i}: {r:?}");
        }
        for conn in listener.incoming() {
            let Ok(s) = conn else { return };
            let mut w = s.try_clone().unwrap();
            for line in BufReader::new(s).lines() {
                let Ok(line) = line else { break };
                seen.lock().unwrap().push(line.clone());
                let reply = match keying::decode_request(&line) {
                    Ok(m) => dp.handle_request(Instant::now(), m),
                    Err(e) => DpReply::from_decode_error(&e),
                };
                if writeln!(w, "{}", keying::encode_reply(&reply)).is_err() {
                    break;
                }
            }
        }
    });
}

/// Kills nvesecd if the test fails half-way (it would outlive the test otherwise).
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn nvesecd_syncs_gsa_dp_answers_control_refuses_bad_reloads_and_stops_cleanly() {
    let d = tempfile::tempdir().unwrap();
    let conf = d.path().join("nvesec.conf");
    fs::write(&conf, CONF).unwrap();
    let (dp_sock, ctl_sock) = (d.path().join("dp.sock"), d.path().join("ctl.sock"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    fake_dp(&dp_sock, seen.clone(), reqid("net"));
    let log = fs::File::create(d.path().join("log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_nvesecd"))
        .arg("--config")
        .arg(&conf)
        .arg("--dp-socket")
        .arg(&dp_sock)
        .arg("--ctl-socket")
        .arg(&ctl_sock)
        .args(["--port", "0", "--port-nat-t", "0", "--debug", "2"])
        .stdin(Stdio::null())
        .stderr(log)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Reap(child);
    let daemon_log = || fs::read_to_string(d.path().join("log")).unwrap_or_default();
    wait_for("control socket", || Client::connect(&ctl_sock).is_ok());
    let mode = fs::metadata(&ctl_sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Start-up sync: DUMP first, then the policies and routes, and the stale GSA of an
    // unknown child is deleted while the configured child's stay (until replaced).
    wait_for("SET_ROUTES", || {
        seen.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("SET_ROUTES"))
    });
    let lines = seen.lock().unwrap().clone();
    assert!(lines[0].contains(r#""op":"DUMP""#), "{lines:?}");
    let gsp = lines.iter().find(|l| l.contains("SET_GSP")).unwrap();
    assert_eq!(gsp.matches(r#""kind":"geo""#).count(), 2, "{gsp}");
    assert!(
        gsp.contains(&format!(r#""reqid":{}"#, reqid("net"))),
        "{gsp}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l
                .contains(r#""routes":[{"prefix":"10.9.0.0/24","remote":"127.0.0.2","vni":100"#)),
        "{lines:?}"
    );
    let dels: Vec<&String> = lines.iter().filter(|l| l.contains("DEL_GSA")).collect();
    assert_eq!(dels.len(), 1, "{dels:?}");
    assert!(dels[0].contains(r#""gsa_id":51"#), "{dels:?}");
    assert!(
        daemon_log().contains("keep forwarding until replaced"),
        "{}",
        daemon_log()
    );

    let mut c = Client::connect(&ctl_sock).unwrap();
    c.set_timeout(Some(Duration::from_secs(5))).unwrap();
    match c.call(Cmd::Stats).unwrap() {
        Reply::Stats(s) => {
            assert!(s.dataplane_connected);
            assert_eq!(s.conns_loaded, 1);
        }
        other => panic!("{other:?}"),
    }
    match c.call(Cmd::ListConns).unwrap() {
        Reply::ListConns { conns } => {
            assert_eq!(conns.len(), 1);
            assert_eq!(conns[0].children[0].start_action, "none");
        }
        other => panic!("{other:?}"),
    }
    match c.call(Cmd::ListPols).unwrap() {
        Reply::ListPols { policies } => assert_eq!(policies.len(), 2),
        other => panic!("{other:?}"),
    }
    // --counters: the stale GSAs are in gsa-dp's table (no name: not ours yet).
    match c.call(Cmd::Counters { reset: false }).unwrap() {
        Reply::Counters(k) => {
            assert_eq!(k.gsas.len(), 2, "{k:?}");
            assert!(k.drops.iter().any(|d| d.reason == "bad_icv"));
        }
        other => panic!("{other:?}"),
    }

    // A broken configuration is refused as a whole; the running one stays.
    fs::write(
        &conf,
        CONF.replace(
            "vnis = 100\n      }",
            "vnis = 100\n        bogus_key = 1\n      }",
        )
        .replace("gsas = gw.net", "gsas = gw.nope"),
    )
    .unwrap();
    let n_before = seen.lock().unwrap().len();
    let err = c.call(Cmd::LoadAll).unwrap_err().to_string();
    assert!(err.contains("refused") && err.contains("gw.nope"), "{err}");
    match c.call(Cmd::ListConns).unwrap() {
        Reply::ListConns { conns } => assert_eq!(conns.len(), 1),
        other => panic!("{other:?}"),
    }
    let after: Vec<String> = seen.lock().unwrap()[n_before..].to_vec();
    assert!(
        after
            .iter()
            .all(|l| !l.contains("SET_GSP") && !l.contains("SET_ROUTES")),
        "{after:?}"
    );
    // An unchanged good reload changes nothing either.
    fs::write(&conf, CONF).unwrap();
    match c.call(Cmd::LoadAll).unwrap() {
        Reply::Load(r) => assert!(r.errors.is_empty() && r.conns_loaded.is_empty(), "{r:?}"),
        other => panic!("{other:?}"),
    }
    let after: Vec<String> = seen.lock().unwrap()[n_before..].to_vec();
    assert!(after.iter().all(|l| !l.contains("SET_GSP")), "{after:?}");
    drop(c);

    let st = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let end = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < end,
            "nvesecd did not exit: {}",
            daemon_log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "{}", daemon_log());
    assert!(!ctl_sock.exists(), "control socket left behind");
    assert!(daemon_log().contains("nvesecd stopped"));
    assert!(
        !daemon_log().contains("0sc2VjcmV0"),
        "the PSK reached the log"
    );
}
