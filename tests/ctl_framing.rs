//! Framing and error handling of the control socket, byte for byte.

mod ctl_support;

use ctl_support::Daemon;
use nvesec::ctl::proto::MAX_LINE;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

fn connect(d: &Daemon) -> (UnixStream, BufReader<UnixStream>) {
    let s = UnixStream::connect(&d.path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = BufReader::new(s.try_clone().unwrap());
    (s, r)
}

fn line(r: &mut BufReader<UnixStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l
}

#[test]
fn malformed_lines_get_error_responses() {
    let d = Daemon::start();
    let (mut w, mut r) = connect(&d);
    w.write_all(b"not json\n").unwrap();
    let l = line(&mut r);
    assert!(
        l.starts_with(r#"{"type":"response","id":null,"status":"error","error":{"code":"bad-json","message":"bad JSON: "#),
        "{l}"
    );
    w.write_all(b"{\"id\":3,\"command\":\"reboot\"}\n").unwrap();
    assert_eq!(
        line(&mut r),
        "{\"type\":\"response\",\"id\":3,\"status\":\"error\",\"error\":{\"code\":\"unknown-command\",\"message\":\"unknown command 'reboot'\"}}\n"
    );
    w.write_all(b"{\"command\":\"stats\"}\r\n").unwrap();
    assert_eq!(
        line(&mut r),
        "{\"type\":\"response\",\"id\":null,\"status\":\"error\",\"error\":{\"code\":\"missing-id\",\"message\":\"request has no unsigned integer \\\"id\\\"\"}}\n"
    );
    w.write_all(b"{\"id\":4,\"command\":\"terminate\"}\n")
        .unwrap();
    let l = line(&mut r);
    assert!(
        l.starts_with(
            r#"{"type":"response","id":4,"status":"error","error":{"code":"invalid-arguments""#
        ),
        "{l}"
    );
    // Blank lines are ignored; the connection still works (CRLF accepted).
    w.write_all(b"\n\r\n{\"id\":5,\"command\":\"version\"}\r\n")
        .unwrap();
    let l = line(&mut r);
    assert!(
        l.starts_with(
            r#"{"type":"response","id":5,"status":"ok","reply":{"version":{"daemon":"nvesecd""#
        ),
        "{l}"
    );
}

#[test]
fn oversized_line_is_refused_and_connection_survives() {
    let d = Daemon::start();
    let (mut w, mut r) = connect(&d);
    // Writer thread: the server answers before we finish sending.
    let mut w2 = w.try_clone().unwrap();
    let t = std::thread::spawn(move || {
        let big = vec![b'x'; MAX_LINE + 4096];
        w2.write_all(&big).unwrap();
        w2.write_all(b"tail of the long line\n").unwrap();
    });
    assert_eq!(
        line(&mut r),
        "{\"type\":\"response\",\"id\":null,\"status\":\"error\",\"error\":{\"code\":\"line-too-long\",\"message\":\"request line longer than 1048576 bytes\"}}\n"
    );
    t.join().unwrap();
    w.write_all(b"{\"id\":9,\"command\":\"stats\"}\n").unwrap();
    let l = line(&mut r);
    assert!(
        l.starts_with(r#"{"type":"response","id":9,"status":"ok""#),
        "{l}"
    );
}

#[test]
fn pipelined_requests_are_matched_by_id() {
    let d = Daemon::start();
    let (mut w, mut r) = connect(&d);
    let mut batch = Vec::new();
    for id in [42u64, 7, 1000] {
        batch.extend_from_slice(format!("{{\"id\":{id},\"command\":\"list-pols\"}}\n").as_bytes());
    }
    w.write_all(&batch).unwrap();
    for id in [42u64, 7, 1000] {
        let v: serde_json::Value = serde_json::from_str(&line(&mut r)).unwrap();
        assert_eq!(v["id"], id);
        assert_eq!(v["reply"]["list-pols"]["policies"][0]["name"], "gw/net");
    }
}

#[test]
fn many_clients_and_abrupt_disconnects() {
    let d = Daemon::start();
    for _ in 0..20 {
        let mut s = UnixStream::connect(&d.path).unwrap();
        // Half a request, then gone.
        s.write_all(b"{\"id\":1,\"comm").unwrap();
    }
    let mut c = nvesec::ctl::client::Client::connect(&d.path).unwrap();
    c.set_timeout(Some(Duration::from_secs(10))).unwrap();
    let reply = c.call(nvesec::ctl::proto::Command::Stats).unwrap();
    assert!(matches!(reply, nvesec::ctl::proto::Reply::Stats(_)));
}
