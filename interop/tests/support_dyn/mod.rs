//! Helpers for the dynamic scenarios of issue 7 (rekey under load, crash and restart,
//! underlay impairment): a timestamped ping stream, an iperf3 TCP stream with per-interval
//! receive counts, a watcher that polls gsa-dp's DUMP for the GSAs alive at once, nvesec.conf
//! tuning (lifetimes, DPD) and a gsa-dp restart with the same command line and socket.
//!
//! Everything spawned here is a child of the test and is killed on drop (also after a failed
//! assertion); the namespaces' own guards remove whatever is left.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nvesec_interop::dataplane::KeyingClient;
use nvesec_interop::nve::{Nve, NveConfig, NvePair};
use nvesec_interop::Netns;
use serde_json::Value;

/// Seconds since the Unix epoch (the clock `ping -D` stamps its lines with).
pub fn wall(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

// ----- ping ----------------------------------------------------------------------------------

/// `ping -D -i INTERVAL -c COUNT` running in a namespace, killed on drop.
#[derive(Debug)]
pub struct PingStream {
    child: Option<Child>,
    pub started: SystemTime,
}

/// What a finished ping stream saw.
#[derive(Debug, Clone, Default)]
pub struct PingReport {
    pub transmitted: u64,
    pub received: u64,
    pub duplicates: u64,
    /// (icmp_seq, wall-clock seconds of the reply), in arrival order.
    pub replies: Vec<(u64, f64)>,
    pub started: f64,
    pub text: String,
}

impl PingStream {
    /// Starts `ping -D -n -i interval -c count -W wait dst` in `ns`.
    pub fn start(ns: &Netns, dst: &str, count: u32, interval: &str, wait_s: u32) -> Self {
        let started = SystemTime::now();
        let child = ns
            .command("ping")
            .args(["-D", "-n", "-i", interval, "-c", &count.to_string()])
            .args(["-W", &wait_s.to_string(), dst])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ping");
        PingStream {
            child: Some(child),
            started,
        }
    }

    /// Waits for ping to finish and parses its output.
    pub fn finish(mut self) -> PingReport {
        let child = self.child.take().expect("ping child");
        let out = child.wait_with_output().expect("wait for ping");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        PingReport::parse(&text, wall(self.started))
    }
}

impl Drop for PingStream {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl PingReport {
    /// Parses `ping -D` output: `[1700000000.123456] 64 bytes from ...: icmp_seq=5 ...` lines
    /// and the `N packets transmitted, M received` summary.
    pub fn parse(text: &str, started: f64) -> Self {
        let mut r = PingReport {
            started,
            text: text.to_string(),
            ..PingReport::default()
        };
        for line in text.lines() {
            if let Some((_, rest)) = line.split_once(" packets transmitted, ") {
                r.transmitted = line
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                r.received = rest
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                continue;
            }
            let (Some(ts), Some(seq)) = (bracket_ts(line), field(line, "icmp_seq=")) else {
                continue;
            };
            if line.contains("bytes from") {
                if line.contains("DUP!") {
                    r.duplicates += 1;
                } else {
                    r.replies.push((seq, ts));
                }
            }
        }
        r
    }

    pub fn lost(&self) -> u64 {
        self.transmitted.saturating_sub(self.received)
    }

    /// Sequence numbers 1..=transmitted without a reply.
    pub fn missing(&self) -> Vec<u64> {
        let got: BTreeSet<u64> = self.replies.iter().map(|r| r.0).collect();
        (1..=self.transmitted)
            .filter(|s| !got.contains(s))
            .collect()
    }

    /// The longest time between two consecutive replies (seconds).
    pub fn max_gap(&self) -> f64 {
        self.replies
            .windows(2)
            .map(|w| w[1].1 - w[0].1)
            .fold(0.0, f64::max)
    }

    /// Seconds from `t` to the first reply that arrived after it.
    pub fn first_reply_after(&self, t: SystemTime) -> Option<f64> {
        let t = wall(t);
        self.replies.iter().find(|r| r.1 > t).map(|r| r.1 - t)
    }

    /// The longest time without replies inside [from, to] (wall-clock seconds), counting
    /// the edges: how long traffic was interrupted around an event.
    pub fn max_gap_within(&self, from: f64, to: f64) -> f64 {
        let mut points = vec![from];
        points.extend(
            self.replies
                .iter()
                .map(|r| r.1)
                .filter(|t| *t > from && *t < to),
        );
        points.push(to);
        points.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
    }

    pub fn summary(&self) -> String {
        format!(
            "{} sent, {} received, {} lost {:?}, max gap {:.3} s",
            self.transmitted,
            self.received,
            self.lost(),
            self.missing(),
            self.max_gap()
        )
    }
}

fn bracket_ts(line: &str) -> Option<f64> {
    let rest = line.strip_prefix('[')?;
    rest[..rest.find(']')?].parse().ok()
}

fn field(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

// ----- iperf3 --------------------------------------------------------------------------------

/// `iperf3 -s -1` in a namespace, killed on drop.
#[derive(Debug)]
pub struct IperfServer {
    child: Child,
}

impl IperfServer {
    /// Starts a one-shot server bound to `addr`:`port` and waits until it listens.
    pub fn start(ns: &Netns, addr: &str, port: u16) -> Self {
        let child = ns
            .command("iperf3")
            .args(["-s", "-1", "-B", addr, "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn iperf3 server");
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            let out = ns
                .command("ss")
                .args(["-Hltn", &format!("sport = :{port}")])
                .output()
                .expect("run ss");
            if !out.stdout.is_empty() {
                break;
            }
            assert!(Instant::now() < end, "iperf3 server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        IperfServer { child }
    }
}

impl Drop for IperfServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An iperf3 client run: `-R` so the client's intervals count bytes *received*, which
/// shows a stall as empty intervals (sender intervals would hide it behind the socket
/// buffer).
#[derive(Debug)]
pub struct IperfClient {
    child: Option<Child>,
}

/// Per-interval received bytes of a finished client run.
#[derive(Debug, Clone, Default)]
pub struct IperfReport {
    /// (start, end, bytes) of each interval.
    pub intervals: Vec<(f64, f64, u64)>,
    pub bytes_received: u64,
    pub retransmits: u64,
    pub error: Option<String>,
}

/// The iperf3 report interval used by [`IperfClient::start`].
pub const IPERF_INTERVAL: f64 = 0.1;

impl IperfClient {
    /// `iperf3 -c dst -p port -R -t secs -b rate -i 0.1 --json` in `ns`.
    pub fn start(ns: &Netns, dst: &str, port: u16, secs: u32, rate: &str) -> Self {
        let child = ns
            .command("iperf3")
            .args(["-c", dst, "-p", &port.to_string(), "-R"])
            .args(["-t", &secs.to_string(), "-b", rate])
            .args(["-i", &IPERF_INTERVAL.to_string(), "--json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn iperf3 client");
        IperfClient { child: Some(child) }
    }

    pub fn finish(mut self) -> IperfReport {
        let mut child = self.child.take().expect("iperf3 child");
        let mut out = String::new();
        if let Some(mut s) = child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        let _ = child.wait();
        IperfReport::parse(&out)
    }
}

impl Drop for IperfClient {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl IperfReport {
    pub fn parse(json: &str) -> Self {
        let v: Value = match serde_json::from_str(json) {
            Ok(v) => v,
            Err(e) => {
                return IperfReport {
                    error: Some(format!("{e}: {json}")),
                    ..IperfReport::default()
                }
            }
        };
        let intervals = v["intervals"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|i| {
                        let s = &i["sum"];
                        (
                            s["start"].as_f64().unwrap_or(0.0),
                            s["end"].as_f64().unwrap_or(0.0),
                            s["bytes"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        IperfReport {
            intervals,
            bytes_received: v["end"]["sum_received"]["bytes"].as_u64().unwrap_or(0),
            retransmits: v["end"]["sum_sent"]["retransmits"].as_u64().unwrap_or(0),
            error: v["error"].as_str().map(str::to_string),
        }
    }

    /// The longest stretch of consecutive intervals that received nothing, in seconds
    /// (a lower bound of the longest stall; the stall is shorter than this plus one
    /// interval).
    pub fn longest_empty(&self) -> f64 {
        let (mut best, mut run) = (0.0f64, 0.0f64);
        for (s, e, b) in &self.intervals {
            if *b == 0 {
                run += e - s;
                best = best.max(run);
            } else {
                run = 0.0;
            }
        }
        best
    }

    /// An upper bound of the longest stall (seconds).
    pub fn max_stall_bound(&self) -> f64 {
        if self.intervals.is_empty() {
            return f64::INFINITY;
        }
        self.longest_empty() + IPERF_INTERVAL
    }
}

// ----- gsa-dp DUMP watcher -------------------------------------------------------------------

/// Polls DUMP on several gsa-dp keying sockets until stopped; remembers the most GSAs per
/// direction seen at once on each and every GSA-ID.
pub struct DumpWatch {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<WatchReport>>,
}

/// Per socket label: what the watcher saw.
#[derive(Debug, Clone, Default)]
pub struct WatchSide {
    pub max_in: usize,
    pub max_out: usize,
    /// The DUMP's GSA list when the maximum was reached.
    pub worst: String,
    pub ids_in: BTreeSet<u64>,
    pub ids_out: BTreeSet<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct WatchReport {
    pub samples: usize,
    pub errors: usize,
    pub sides: BTreeMap<String, WatchSide>,
}

impl WatchReport {
    pub fn max_per_direction(&self) -> usize {
        self.sides
            .values()
            .map(|s| s.max_in.max(s.max_out))
            .max()
            .unwrap_or(0)
    }
}

/// (direction, GSA-ID) of every GSA in a DUMP reply.
pub fn dump_gsas(reply: &str) -> Vec<(String, u64)> {
    let v: Value = serde_json::from_str(reply).unwrap_or(Value::Null);
    v["dump"]["gsas"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|g| {
                    (
                        g["dir"].as_str().unwrap_or_default().to_string(),
                        g["gsa_id"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

pub const DUMP: &str = r#"{"v":1,"seq":4242,"op":"DUMP"}"#;

impl DumpWatch {
    pub fn start(sockets: Vec<(String, PathBuf)>, period: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut rep = WatchReport::default();
            let mut clients: Vec<Option<KeyingClient>> = sockets.iter().map(|_| None).collect();
            while !flag.load(Ordering::Relaxed) {
                for (i, (label, path)) in sockets.iter().enumerate() {
                    let reply = clients[i]
                        .take()
                        .map_or_else(|| KeyingClient::connect(path), Ok)
                        .and_then(|mut c| {
                            let r = c.ok(DUMP);
                            clients[i] = Some(c);
                            r
                        });
                    let Ok(reply) = reply else {
                        // gsa-dp restarting: reconnect next round.
                        clients[i] = None;
                        rep.errors += 1;
                        continue;
                    };
                    rep.samples += 1;
                    let gsas = dump_gsas(&reply);
                    let side = rep.sides.entry(label.clone()).or_default();
                    let n_in = gsas.iter().filter(|g| g.0 == "in").count();
                    let n_out = gsas.iter().filter(|g| g.0 == "out").count();
                    if n_in.max(n_out) > side.max_in.max(side.max_out) {
                        side.worst = format!("{gsas:?}");
                    }
                    side.max_in = side.max_in.max(n_in);
                    side.max_out = side.max_out.max(n_out);
                    for (d, id) in gsas {
                        if d == "in" {
                            side.ids_in.insert(id);
                        } else {
                            side.ids_out.insert(id);
                        }
                    }
                }
                std::thread::sleep(period);
            }
            rep
        });
        DumpWatch {
            stop,
            handle: Some(handle),
        }
    }

    pub fn finish(mut self) -> WatchReport {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for DumpWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

// ----- SA state ------------------------------------------------------------------------------

/// The (inbound, outbound) GSA-IDs of the only INSTALLED child of the only IKE SA.
pub fn installed_pair(n: &Nve) -> Option<(String, String)> {
    let v = n.ctl_json(&["--list-sas"]).ok()?;
    let sas = v["sas"].as_array()?;
    if sas.len() != 1 || sas[0]["state"] != "ESTABLISHED" {
        return None;
    }
    let installed: Vec<&Value> = sas[0]["children"]
        .as_array()?
        .iter()
        .filter(|c| c["state"] == "INSTALLED" && c["name"] == NveConfig::CHILD)
        .collect();
    match installed.as_slice() {
        [c] => Some((
            c["gsa_id_in"].as_str()?.to_string(),
            c["gsa_id_out"].as_str()?.to_string(),
        )),
        _ => None,
    }
}

/// Waits (5 s) until each side has one IKE SA with one installed GSA pair, A's inbound
/// being B's outbound and vice versa.
pub fn matching_pair(p: &NvePair) -> ((String, String), (String, String)) {
    matching_pair_of(&p.a, &p.b, Duration::from_secs(5))
}

/// [`matching_pair`] for any two NVEs, waiting up to `timeout`.
pub fn matching_pair_of(
    a: &Nve,
    b: &Nve,
    timeout: Duration,
) -> ((String, String), (String, String)) {
    let p = (a, b);
    let deadline = Instant::now() + timeout;
    loop {
        let (a, b) = (installed_pair(p.0), installed_pair(p.1));
        if let (Some(a), Some(b)) = (&a, &b) {
            if a.0 == b.1 && a.1 == b.0 {
                return (a.clone(), b.clone());
            }
        }
        assert!(
            Instant::now() < deadline,
            "installed GSAs: A {a:?}, B {b:?}\nlist-sas A: {:?}\nlist-sas B: {:?}\n--- A ---\n{}\n--- B ---\n{}",
            p.0.ctl_json(&["--list-sas"]),
            p.1.ctl_json(&["--list-sas"]),
            p.0.log(),
            p.1.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ----- configuration tuning ------------------------------------------------------------------

/// nvesec.conf text with extra lines: `conn` after the connection's `remote_addrs` line,
/// `child` after the child's `start_action` line (the layout `NveConfig::render` writes).
pub fn tune(text: &str, conn: &[&str], child: &[&str]) -> String {
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        let extra: &[&str] = if t.starts_with("remote_addrs =") {
            conn
        } else if t.starts_with("start_action =") {
            child
        } else {
            &[]
        };
        for e in extra {
            out.push_str(indent);
            out.push_str(e);
            out.push('\n');
        }
    }
    out
}

/// Rewrites an NVE's nvesec.conf with [`tune`] and reloads it (`nvesecctl --load-all`);
/// only while it has no SAs (a changed connection closes its IKE SAs).
pub fn retune(nve: &Nve, conn: &[&str], child: &[&str]) {
    retune_with_daemon(nve, conn, child, &[]);
}

/// [`retune`] plus an `nvesecd { }` section with `daemon` lines (retransmission schedule).
pub fn retune_with_daemon(nve: &Nve, conn: &[&str], child: &[&str], daemon: &[&str]) {
    let mut text = tune(&nve.cfg.render(), conn, child);
    if !daemon.is_empty() {
        text.push_str(&format!("nvesecd {{\n    {}\n}}\n", daemon.join("\n    ")));
    }
    nve.write_config(&text).unwrap();
    let out = nve
        .ctl(&["--load-all"])
        .unwrap_or_else(|e| panic!("reload refused: {e}\n{text}"));
    assert!(out.contains("connections"), "{out}");
}

/// Writes daemon logs to `$NVESEC_SCENARIO_LOGDIR/<scenario>-<label>.log` when that variable
/// is set (the NVEs' directories are removed on drop, also after a failure).
pub fn save_logs(scenario: &str, logs: &[(&str, String)]) {
    let Some(dir) = std::env::var_os("NVESEC_SCENARIO_LOGDIR") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let _ = std::fs::create_dir_all(&dir);
    for (label, text) in logs {
        let _ = std::fs::write(dir.join(format!("{scenario}-{label}.log")), text);
    }
}

/// Saves the NVEs' nvesecd logs with [`save_logs`] when dropped: also after a failed
/// assertion, which is when they are wanted.
pub struct LogsOnDrop<'a> {
    pub scenario: &'static str,
    pub nves: Vec<(&'static str, &'a Nve)>,
}

impl Drop for LogsOnDrop<'_> {
    fn drop(&mut self) {
        let logs: Vec<(&str, String)> = self.nves.iter().map(|(l, n)| (*l, n.log())).collect();
        save_logs(self.scenario, &logs);
    }
}

/// How many log lines contain `needle`.
pub fn count_lines(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

// ----- gsa-dp restart ------------------------------------------------------------------------

/// A gsa-dp started again by [`restart_gsa_dp`], killed on drop.
#[derive(Debug)]
pub struct Respawned {
    child: Child,
}

impl Drop for Respawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pid of the process in `ns` whose command line holds `needle`.
fn pid_in_ns(ns: &str, program: &str, needle: &str) -> Option<u32> {
    let out = Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
        .find(|pid| {
            let argv = cmdline(*pid);
            argv.first().is_some_and(|a| a.ends_with(program))
                && argv.iter().any(|a| a.contains(needle))
        })
}

fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `pid` has exited (gone, or a zombie waiting for its parent).
fn exited(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
        .unwrap_or(true)
}

/// `kill -9` the gsa-dp this test started for `nve` (found by its keying socket in the
/// NVE's namespace) and wait until it is gone; its command line.
pub fn kill_gsa_dp(ns: &Netns, nve: &Nve) -> Vec<String> {
    let socket = nve.dp.socket.to_string_lossy().into_owned();
    let pid = pid_in_ns(ns.name(), "gsa-dp", &socket).expect("gsa-dp of this NVE");
    let argv = cmdline(pid);
    let st = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let end = Instant::now() + Duration::from_secs(5);
    while !exited(pid) {
        assert!(Instant::now() < end, "gsa-dp {pid} did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
    argv
}

/// [`kill_gsa_dp`], then start it again with exactly the same command line, so the socket
/// path nvesecd reconnects to is the same; waits until the new socket answers.
pub fn restart_gsa_dp(ns: &Netns, nve: &Nve) -> Respawned {
    let socket = nve.dp.socket.to_string_lossy().into_owned();
    let argv = kill_gsa_dp(ns, nve);
    let log = std::fs::File::create(Path::new(&socket).with_file_name("gsa-dp.restarted.log"))
        .expect("log file");
    let child = ns
        .command(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn gsa-dp");
    let mut r = Respawned { child };
    let end = Instant::now() + Duration::from_secs(10);
    while KeyingClient::connect(Path::new(&socket))
        .and_then(|mut c| c.ok(DUMP))
        .is_err()
    {
        assert!(
            r.child.try_wait().ok().flatten().is_none(),
            "restarted gsa-dp exited"
        );
        assert!(Instant::now() < end, "restarted gsa-dp does not answer");
        std::thread::sleep(Duration::from_millis(20));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ping_d_output() {
        let text = "PING 172.16.0.2 (172.16.0.2) 56(84) bytes of data.\n\
[1700000000.100000] 64 bytes from 172.16.0.2: icmp_seq=1 ttl=64 time=0.5 ms\n\
[1700000000.300000] 64 bytes from 172.16.0.2: icmp_seq=3 ttl=64 time=0.5 ms\n\
[1700000000.310000] 64 bytes from 172.16.0.2: icmp_seq=3 ttl=64 time=0.5 ms (DUP!)\n\
\n--- 172.16.0.2 ping statistics ---\n\
3 packets transmitted, 2 received, +1 duplicates, 33.3333% packet loss, time 200ms\n";
        let r = PingReport::parse(text, 1_700_000_000.0);
        assert_eq!((r.transmitted, r.received, r.duplicates), (3, 2, 1));
        assert_eq!(r.missing(), vec![2]);
        assert!((r.max_gap() - 0.2).abs() < 1e-6);
        assert!((r.max_gap_within(1_700_000_000.0, 1_700_000_001.0) - 0.7).abs() < 1e-6);
    }

    #[test]
    fn tune_inserts_after_the_anchor_lines() {
        let t = "  peer {\n    remote_addrs = 1.2.3.4\n    x\n      start_action = trap\n";
        assert_eq!(
            tune(t, &["dpd_delay = 2s"], &["rekey_time = 2s", "life_time = 3s"]),
            "  peer {\n    remote_addrs = 1.2.3.4\n    dpd_delay = 2s\n    x\n      start_action = trap\n      rekey_time = 2s\n      life_time = 3s\n"
        );
    }

    #[test]
    fn iperf_longest_empty_run() {
        let j = r#"{"intervals":[{"sum":{"start":0,"end":0.1,"bytes":5}},{"sum":{"start":0.1,"end":0.2,"bytes":0}},{"sum":{"start":0.2,"end":0.3,"bytes":0}},{"sum":{"start":0.3,"end":0.4,"bytes":7}}],"end":{"sum_received":{"bytes":12},"sum_sent":{"retransmits":1}}}"#;
        let r = IperfReport::parse(j);
        assert!((r.longest_empty() - 0.2).abs() < 1e-9);
        assert_eq!((r.bytes_received, r.retransmits), (12, 1));
    }
}
