//! `hs-load`: the load generator of `scripts/bench-handshakes.sh`.
//!
//! Runs `--concurrency N` workers for `--duration S` seconds; worker `i` owns connection
//! `conn<i>` (child `c<i>`) and loops: initiate the child (an IKE SA plus its first GSA or
//! CHILD_SA, timed), then terminate the IKE SA (waiting for the delete to complete). Each
//! worker keeps one control connection open for the whole run, so no process is spawned per
//! cycle. Two backends speak the daemons' own control protocols directly:
//!
//! - `--nvesec SOCKET`: nvesecd's JSON lines (docs/cli.md "Control protocol");
//! - `--vici SOCKET`: strongSwan's VICI (length-prefixed packets, strongSwan's
//!   src/libcharon/plugins/vici/README.md): `initiate` and `terminate` commands, which block
//!   until the exchange completes.
//!
//! Prints one line: `backend=.. setups=.. failures=.. secs=.. rate=.. median_ms=.. p90_ms=..`.
#![forbid(unsafe_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const USAGE: &str = "usage: hs-load (--nvesec SOCKET | --vici SOCKET) [--concurrency N] \
                     [--duration SECS] [--first N]";

#[derive(Clone)]
enum Backend {
    Nvesec(PathBuf),
    Vici(PathBuf),
}

/// One control connection able to run an initiate/terminate cycle for one connection.
trait Driver {
    fn initiate(&mut self, conn: usize) -> io::Result<()>;
    fn terminate(&mut self, conn: usize) -> io::Result<()>;
}

struct NvesecDriver {
    w: UnixStream,
    r: BufReader<UnixStream>,
    next_id: u64,
    line: String,
}

impl NvesecDriver {
    fn connect(path: &PathBuf) -> io::Result<Self> {
        let w = UnixStream::connect(path)?;
        let r = BufReader::new(w.try_clone()?);
        Ok(NvesecDriver {
            w,
            r,
            next_id: 1,
            line: String::new(),
        })
    }

    fn call(&mut self, req: Value) -> io::Result<()> {
        self.call_reply(req).map(drop)
    }

    /// Send one request, wait for its response; the `reply` object when the status is ok.
    fn call_reply(&mut self, mut req: Value) -> io::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        req["id"] = json!(id);
        let mut text = req.to_string();
        text.push('\n');
        self.w.write_all(text.as_bytes())?;
        loop {
            self.line.clear();
            if self.r.read_line(&mut self.line)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "nvesecd closed",
                ));
            }
            let v: Value = serde_json::from_str(&self.line).map_err(io::Error::other)?;
            if v["type"] != "response" || v["id"] != json!(id) {
                continue;
            }
            return match v["status"].as_str() {
                Some("ok") => Ok(v["reply"].clone()),
                _ => Err(io::Error::other(v["error"].to_string())),
            };
        }
    }
}

impl Driver for NvesecDriver {
    fn initiate(&mut self, conn: usize) -> io::Result<()> {
        self.call(json!({"command": "initiate", "child": format!("c{conn}"), "timeout": 10}))
    }
    /// nvesecd answers `terminate` once the DELETE is sent; swanctl's VICI `terminate`
    /// returns when it completed. Wait for the IKE SA to be gone (list-sas is cheap) so that
    /// both loops run the same cycle and the next initiate starts a fresh IKE SA.
    fn terminate(&mut self, conn: usize) -> io::Result<()> {
        let ike = format!("conn{conn}");
        self.call(json!({"command": "terminate", "ike": ike, "timeout": 10}))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self.call_reply(json!({"command": "list-sas", "ike": ike}))?;
            if r["list-sas"]["sas"]
                .as_array()
                .is_some_and(|a| a.is_empty())
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "{ike}: still listed 10 s after terminate"
                )));
            }
            thread::sleep(Duration::from_micros(200));
        }
    }
}

/// VICI packet types and message element types (vici README, "Packet layer"/"Message format").
const CMD_REQUEST: u8 = 0;
const CMD_RESPONSE: u8 = 1;
const CMD_UNKNOWN: u8 = 2;
const KEY_VALUE: u8 = 3;

struct ViciDriver {
    s: UnixStream,
    buf: Vec<u8>,
}

impl ViciDriver {
    fn connect(path: &PathBuf) -> io::Result<Self> {
        Ok(ViciDriver {
            s: UnixStream::connect(path)?,
            buf: Vec::new(),
        })
    }

    /// Send a command with flat key/value arguments; wait for its response and check
    /// `success = yes`.
    fn call(&mut self, cmd: &str, args: &[(&str, &str)]) -> io::Result<()> {
        let mut p = vec![CMD_REQUEST, cmd.len() as u8];
        p.extend_from_slice(cmd.as_bytes());
        for (k, v) in args {
            p.push(KEY_VALUE);
            p.push(k.len() as u8);
            p.extend_from_slice(k.as_bytes());
            p.extend_from_slice(&(v.len() as u16).to_be_bytes());
            p.extend_from_slice(v.as_bytes());
        }
        let mut out = (p.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&p);
        self.s.write_all(&out)?;
        loop {
            let mut len = [0u8; 4];
            self.s.read_exact(&mut len)?;
            self.buf.resize(u32::from_be_bytes(len) as usize, 0);
            self.s.read_exact(&mut self.buf)?;
            match self.buf.first() {
                Some(&CMD_RESPONSE) => return check_success(&self.buf[1..]),
                Some(&CMD_UNKNOWN) => return Err(io::Error::other(format!("vici: unknown {cmd}"))),
                _ => continue, // events (none registered) or confirmations
            }
        }
    }
}

/// Find `success` among the top-level key/values of a VICI message; `errmsg` on failure.
fn check_success(mut m: &[u8]) -> io::Result<()> {
    let mut success = false;
    let mut errmsg = String::new();
    while let Some((&t, rest)) = m.split_first() {
        m = rest;
        if t != KEY_VALUE {
            break; // sections/lists only follow the flat keys we need
        }
        let kl = *m.first().ok_or_else(short)? as usize;
        let key = m.get(1..1 + kl).ok_or_else(short)?;
        m = &m[1 + kl..];
        let vl = u16::from_be_bytes([*m.first().ok_or_else(short)?, *m.get(1).ok_or_else(short)?])
            as usize;
        let val = m.get(2..2 + vl).ok_or_else(short)?;
        m = &m[2 + vl..];
        match key {
            b"success" => success = val == b"yes",
            b"errmsg" => errmsg = String::from_utf8_lossy(val).into_owned(),
            _ => {}
        }
    }
    if success {
        Ok(())
    } else {
        Err(io::Error::other(format!("vici: {errmsg}")))
    }
}

fn short() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "vici: truncated message")
}

impl Driver for ViciDriver {
    fn initiate(&mut self, conn: usize) -> io::Result<()> {
        let (child, ike) = (format!("c{conn}"), format!("conn{conn}"));
        self.call(
            "initiate",
            &[
                ("child", &child),
                ("ike", &ike),
                ("timeout", "10000"),
                ("init-limits", "no"),
            ],
        )
    }
    fn terminate(&mut self, conn: usize) -> io::Result<()> {
        let ike = format!("conn{conn}");
        self.call("terminate", &[("ike", &ike), ("timeout", "10000")])
    }
}

struct WorkerResult {
    latencies: Vec<Duration>,
    failures: u64,
    first_error: Option<String>,
}

fn worker(backend: Backend, conn: usize, stop: Arc<AtomicBool>) -> io::Result<WorkerResult> {
    let mut d: Box<dyn Driver> = match &backend {
        Backend::Nvesec(p) => Box::new(NvesecDriver::connect(p)?),
        Backend::Vici(p) => Box::new(ViciDriver::connect(p)?),
    };
    let mut res = WorkerResult {
        latencies: Vec::new(),
        failures: 0,
        first_error: None,
    };
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        let r = d.initiate(conn);
        let dt = t0.elapsed();
        match &r {
            Ok(()) => res.latencies.push(dt),
            Err(e) => {
                res.failures += 1;
                res.first_error.get_or_insert_with(|| e.to_string());
            }
        }
        // Always terminate: a failed initiate may have left a half-open IKE SA behind.
        if let Err(e) = d.terminate(conn) {
            if r.is_ok() {
                res.failures += 1;
                res.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    Ok(res)
}

struct Opts {
    backend: Backend,
    concurrency: usize,
    duration: Duration,
    first: usize,
}

fn parse_args() -> Result<Opts, String> {
    let (mut backend, mut concurrency, mut duration, mut first) = (None, 32, 10.0, 1);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--nvesec" => backend = Some(Backend::Nvesec(val()?.into())),
            "--vici" => backend = Some(Backend::Vici(val()?.into())),
            "--concurrency" => concurrency = val()?.parse().map_err(|e| format!("{e}"))?,
            "--duration" => duration = val()?.parse().map_err(|e| format!("{e}"))?,
            "--first" => first = val()?.parse().map_err(|e| format!("{e}"))?,
            _ => return Err(USAGE.into()),
        }
    }
    Ok(Opts {
        backend: backend.ok_or(USAGE)?,
        concurrency,
        duration: Duration::from_secs_f64(duration),
        first,
    })
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("hs-load: {e}");
            return ExitCode::from(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let handles: Vec<_> = (0..o.concurrency)
        .map(|i| {
            let (b, s) = (o.backend.clone(), stop.clone());
            thread::spawn(move || worker(b, o.first + i, s))
        })
        .collect();
    thread::sleep(o.duration);
    stop.store(true, Ordering::Relaxed);
    let (mut lat, mut failures, mut first_error) = (Vec::new(), 0, None);
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => {
                lat.extend(r.latencies);
                failures += r.failures;
                first_error = first_error.or(r.first_error);
            }
            Ok(Err(e)) => {
                eprintln!("hs-load: worker: {e}");
                return ExitCode::FAILURE;
            }
            Err(_) => return ExitCode::FAILURE,
        }
    }
    // Cycles still running at the deadline finish (bounded by the 10 s timeouts); the rate
    // counts them over the real elapsed time.
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let name = match o.backend {
        Backend::Nvesec(_) => "nvesec",
        Backend::Vici(_) => "strongswan",
    };
    println!(
        "backend={name} setups={} failures={failures} secs={secs:.2} rate={:.1} median_ms={:.2} p90_ms={:.2}",
        lat.len(),
        lat.len() as f64 / secs,
        pct(0.5),
        pct(0.9)
    );
    if let Some(e) = first_error {
        eprintln!("hs-load: first error: {e}");
    }
    if lat.is_empty() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
