//! `gsa-dp`: the Geneve security dataplane daemon, and `gsa-dp ctl`, a minimal keying-socket
//! client for installing GSAs and policies by hand (see docs/dataplane.md, "Running gsa-dp").
#![forbid(unsafe_code)]

use clap::{Args, Parser, Subcommand};
use nvesec_gsa_dp::io::daemon::{Daemon, DaemonConfig, TunSpec};
use nvesec_gsa_dp::io::local_socket::Access;
use nvesec_gsa_dp::io::tun::Kind;
use nvesec_gsa_dp::keying::Route;
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "gsa-dp",
    version,
    about = "Geneve security dataplane (tun/tap <-> Geneve over UDP with GSOs)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Send request lines from stdin to the keying socket and print the replies (and events).
    Ctl(CtlArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Keying socket path (created mode 0600: root only).
    #[arg(long, default_value = "/run/nvesec/dp.sock")]
    socket: PathBuf,
    /// Also let this group use the keying socket (mode 0660; a client's primary group must be
    /// it, as SO_PEERCRED shows no supplementary groups).
    #[arg(long, value_name = "NAME")]
    keying_group: Option<String>,
    /// Geneve UDP port.
    #[arg(long, default_value_t = 6081)]
    port: u16,
    /// Underlay address to bind; `::` serves IPv4 and IPv6.
    #[arg(long, default_value = "::")]
    listen: IpAddr,
    /// L3 device NAME:VNI[:MTU] (repeatable); MTU defaults to the underlay MTU minus overhead.
    #[arg(long = "tun", value_parser = parse_tun)]
    tuns: Vec<(String, u32, Option<u32>)>,
    /// L2 device NAME:VNI[:MTU] (repeatable), Protocol Type 0x6558.
    #[arg(long = "tap", value_parser = parse_tun)]
    taps: Vec<(String, u32, Option<u32>)>,
    /// Overlay route PREFIX,REMOTE,VNI[,PORT] (repeatable); SET_ROUTES replaces them.
    #[arg(long = "route", value_parser = parse_route)]
    routes: Vec<Route>,
    /// Underlay MTU the derived tun MTU is computed from.
    #[arg(long, default_value_t = 1500)]
    underlay_mtu: u32,
    /// Turn off tun TSO/checksum offloads (userspace segmentation and coalescing) and UDP
    /// GSO/GRO: one packet per tun read and write, batches of single datagrams on the socket.
    #[arg(long)]
    no_offload: bool,
    /// Data worker threads: with more than 1, tuns are multi-queue and every worker has its own
    /// queues and its own SO_REUSEPORT socket on the Geneve port.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Stay in the foreground (otherwise start in the background once the socket is up).
    #[arg(long)]
    foreground: bool,
    /// Log every keying request and event to stderr.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Args, Debug)]
struct CtlArgs {
    /// Keying socket path.
    #[arg(long, default_value = "/run/nvesec/dp.sock")]
    socket: PathBuf,
    /// After the last reply, keep printing events for this many seconds.
    #[arg(long, default_value_t = 0)]
    events: u64,
}

fn parse_tun(s: &str) -> Result<(String, u32, Option<u32>), String> {
    let mut it = s.split(':');
    let name = it
        .next()
        .filter(|n| !n.is_empty())
        .ok_or("NAME:VNI[:MTU]")?;
    let vni = it
        .next()
        .ok_or("NAME:VNI[:MTU]")?
        .parse::<u32>()
        .map_err(|e| e.to_string())?;
    if vni > 0x00ff_ffff {
        return Err(format!("VNI {vni} is more than 24 bits"));
    }
    let mtu = it
        .next()
        .map(|m| m.parse::<u32>().map_err(|e| e.to_string()))
        .transpose()?;
    if it.next().is_some() {
        return Err("NAME:VNI[:MTU]".into());
    }
    Ok((name.to_string(), vni, mtu))
}

fn parse_route(s: &str) -> Result<Route, String> {
    let f: Vec<&str> = s.split(',').collect();
    if !(3..=4).contains(&f.len()) {
        return Err("PREFIX,REMOTE,VNI[,PORT]".into());
    }
    Ok(Route {
        prefix: f[0].parse()?,
        remote: f[1].parse().map_err(|e| format!("{}: {e}", f[1]))?,
        vni: f[2].parse().map_err(|e| format!("{}: {e}", f[2]))?,
        port: f
            .get(3)
            .map(|p| p.parse().map_err(|e| format!("{p}: {e}")))
            .transpose()?,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Some(Cmd::Ctl(a)) => ctl(&a),
        None if !cli.run.foreground => background(&cli.run.socket),
        None => run(cli.run),
    }
}

fn run(a: RunArgs) -> ExitCode {
    let spec = |kind| {
        move |(name, vni, mtu)| TunSpec {
            name,
            vni,
            kind,
            mtu,
        }
    };
    let mut tuns: Vec<TunSpec> = a.tuns.into_iter().map(spec(Kind::Tun)).collect();
    tuns.extend(a.taps.into_iter().map(spec(Kind::Tap)));
    let keying_access = match a.keying_group.as_deref().map(Access::with_group) {
        None => Access::root_only(),
        Some(Ok(access)) => access,
        Some(Err(e)) => {
            eprintln!("gsa-dp: --keying-group: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cfg = DaemonConfig {
        socket: a.socket,
        keying_access,
        listen: a.listen,
        port: a.port,
        tuns,
        routes: a.routes,
        underlay_mtu: a.underlay_mtu,
        verbose: a.verbose,
        offload: !a.no_offload,
        workers: a.workers,
        ..DaemonConfig::default()
    };
    let mut d = match Daemon::new(cfg) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("gsa-dp: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "gsa-dp: listening on {}",
        d.local_addr().map(|a| a.to_string()).unwrap_or_default()
    );
    match d.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gsa-dp: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Re-run ourselves with `--foreground` in a new process group, and return once the keying
/// socket answers (or the child failed).
fn background(socket: &Path) -> ExitCode {
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("gsa-dp: cannot find my own executable");
        return ExitCode::FAILURE;
    };
    let mut child = match Command::new(exe)
        .args(std::env::args_os().skip(1))
        .arg("--foreground")
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gsa-dp: spawn: {e}");
            return ExitCode::FAILURE;
        }
    };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(st)) = child.try_wait() {
            eprintln!("gsa-dp: daemon exited: {st}");
            return ExitCode::FAILURE;
        }
        if UnixStream::connect(socket).is_ok() {
            println!("{}", child.id());
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("gsa-dp: keying socket {} did not come up", socket.display());
    ExitCode::FAILURE
}

/// One request per stdin line; prints every line the daemon sends (replies and events).
/// Exit status 1 if any reply had `"ok":false`.
fn ctl(a: &CtlArgs) -> ExitCode {
    let stream = match UnixStream::connect(&a.socket) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gsa-dp ctl: {}: {e}", a.socket.display());
            return ExitCode::FAILURE;
        }
    };
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("gsa-dp ctl: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut reader = BufReader::new(stream);
    let mut failed = false;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        if let Err(e) = writeln!(writer, "{line}") {
            // A refused client is closed at once: print the reply that says why, if any.
            let mut why = String::new();
            match reader.read_line(&mut why) {
                Ok(n) if n > 0 => eprint!("gsa-dp ctl: {why}"),
                _ => eprintln!("gsa-dp ctl: {e}"),
            }
            return ExitCode::FAILURE;
        }
        // Print events until the reply (it has "ok").
        loop {
            let mut got = String::new();
            match reader.read_line(&mut got) {
                Ok(0) | Err(_) => return ExitCode::FAILURE,
                Ok(_) => {}
            }
            print!("{got}");
            if got.contains("\"ok\":") {
                failed |= got.contains("\"ok\":false");
                break;
            }
        }
    }
    if a.events > 0 {
        let _ = reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(a.events)));
        let end = Instant::now() + Duration::from_secs(a.events);
        let mut got = String::new();
        while Instant::now() < end {
            got.clear();
            match reader.read_line(&mut got) {
                Ok(0) | Err(_) => break,
                Ok(_) => print!("{got}"),
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
