//! Log subscriptions: records logged through slog reach `log` subscribers
//! (and only at their level), nvesecctl --log prints them in charon's
//! layout, and a subscriber that does not read is dropped.

mod ctl_support;

use ctl_support::Daemon;
use nvesec::ctl::client::{Client, ClientError};
use nvesec::ctl::proto::{Command, EventBody, EventKind, Reply};
use nvesec::ctl::server::ServerLimits;
use nvesec::log::{ike_sa, subsys, Dispatcher, Levels, Redacted, Subsystem};
use slog::{debug, info, o, trace};
use std::io::{BufRead, BufReader};
use std::process::{Command as Proc, Stdio};
use std::time::{Duration, Instant};

fn logger(d: &Daemon) -> slog::Logger {
    // Sinks silent (-1): only the control feed gets records.
    let drain = Dispatcher::to_writer(
        Box::new(std::io::sink()),
        Levels::all(-1),
        Some(d.feed.clone()),
    );
    slog::Logger::root(drain, o!())
}

#[test]
fn subscriber_receives_records_at_its_level() {
    let d = Daemon::start();
    let log = logger(&d);
    let mut c = Client::connect(&d.path).unwrap();
    c.set_timeout(Some(Duration::from_secs(10))).unwrap();
    let id = c.send(Command::Log { level: 2 }).unwrap();
    let resp = c.response(id).unwrap();
    assert_eq!(
        resp.into_result().unwrap(),
        Reply::Subscribed {
            events: vec![EventKind::Log]
        }
    );
    let ike = ike_sa(&subsys(&log, Subsystem::Ike), "gw", 3);
    trace!(ike, "level 3: not for a level-2 subscriber");
    debug!(ike, "sending IKE_AUTH"; "psk" => Redacted("s3cret"));
    info!(subsys(&log, Subsystem::Dp), "ACQUIRE vni 100");
    let e1 = c.next_event().unwrap();
    assert_eq!(e1.id, id);
    let EventBody::Log(r1) = e1.body else {
        panic!("not a log event")
    };
    assert_eq!(
        (
            r1.subsystem.as_str(),
            r1.level,
            r1.ike.as_deref(),
            r1.ike_uid
        ),
        ("ike", 2, Some("gw"), Some(3))
    );
    assert_eq!(r1.message, "sending IKE_AUTH psk=<redacted>");
    let line = nvesec::ctl::format::log_line(&r1);
    assert_eq!(&line[2..], "[IKE] <gw|3> sending IKE_AUTH psk=<redacted>");
    let EventBody::Log(r2) = c.next_event().unwrap().body else {
        panic!("not a log event")
    };
    assert_eq!(
        (r2.subsystem.as_str(), r2.message.as_str()),
        ("dp", "ACQUIRE vni 100")
    );
}

#[test]
fn nvesecctl_log_streams_charon_lines() {
    let d = Daemon::start();
    let log = logger(&d);
    let mut child = Proc::new(env!("CARGO_BIN_EXE_nvesecctl"))
        .args(["--socket"])
        .arg(&d.path)
        .arg("--log")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            if tx.send(l.unwrap()).is_err() {
                return;
            }
        }
    });
    // Records logged before the subscription exists are not queued, so
    // keep logging until the first line arrives (bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    let got = loop {
        info!(
            ike_sa(&subsys(&log, Subsystem::Ike), "gw", 7),
            "IKE_SA gw[7] established"
        );
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(50)) {
            break l;
        }
        assert!(
            Instant::now() < deadline,
            "no log line from nvesecctl --log"
        );
    };
    let _ = child.kill();
    let _ = child.wait();
    let (thread, rest) = got.split_at(2);
    assert!(thread.bytes().all(|b| b.is_ascii_digit()), "{got}");
    assert_eq!(rest, "[IKE] <gw|7> IKE_SA gw[7] established");
}

#[test]
fn slow_subscriber_is_dropped_not_waited_for() {
    let d = Daemon::start_with(ServerLimits {
        max_clients: 8,
        max_output: 64 * 1024,
    });
    let log = logger(&d);
    let mut slow = Client::connect(&d.path).unwrap();
    slow.set_timeout(Some(Duration::from_secs(10))).unwrap();
    let id = slow.send(Command::Log { level: 1 }).unwrap();
    slow.response(id).unwrap();
    // Far more than socket buffers + 64 KiB, without reading.
    let payload = "x".repeat(1000);
    let start = Instant::now();
    for i in 0..20_000 {
        info!(log, "{}", payload; "n" => i);
        if i % 500 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    assert!(start.elapsed() < Duration::from_secs(20), "logging blocked");
    // The daemon still answers others.
    let mut other = Client::connect(&d.path).unwrap();
    other.set_timeout(Some(Duration::from_secs(10))).unwrap();
    assert!(matches!(
        other.call(Command::Stats).unwrap(),
        Reply::Stats(_)
    ));
    // The slow client finds its stream cut after what was buffered.
    let mut events = 0u32;
    let end = loop {
        match slow.next_event() {
            Ok(_) => events += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(end, ClientError::Closed), "{end:?}");
    assert!(
        events < 20_000,
        "all {events} events delivered: client was not dropped"
    );
}
