//! Network namespaces and veth links, removed again on drop (also after a
//! failed assertion: the test panics, the guards unwind).

use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::HarnessError;

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// A short name unique to this process, so parallel runs never collide.
/// Interface names must fit IFNAMSIZ (15 bytes), hence the compact form.
pub fn unique_name(prefix: &str) -> String {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:x}{n}", std::process::id() % 0xfffff)
}

/// A fresh scratch directory path for this process (`$TMPDIR/nvesec-<prefix>-<pid>-<n>`,
/// hex pid): daemons' configurations, sockets and logs. Named like the namespaces so that
/// [`sweep_stale`] can remove those a killed run left behind.
pub fn scratch_dir(prefix: &str) -> std::path::PathBuf {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("nvesec-{prefix}-{:x}-{n}", std::process::id()))
}

/// The creator of a `<prefix>-<hex pid>-<n>` name, if it has that shape.
fn creator(name: &str) -> Option<u32> {
    match name.split('-').collect::<Vec<_>>().as_slice() {
        [_, pid, n] | [_, _, pid, n] if n.parse::<u32>().is_ok() => {
            u32::from_str_radix(pid, 16).ok()
        }
        _ => None,
    }
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Runs a command to completion; a non-zero exit is an error carrying stderr.
pub fn run(cmd: &mut Command) -> Result<Output, HarnessError> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| HarnessError::Spawn(shown.clone(), e))?;
    if !out.status.success() {
        return Err(HarnessError::Failed {
            cmd: shown,
            status: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(out)
}

fn ip(args: &[&str]) -> Result<Output, HarnessError> {
    run(Command::new("ip").args(args))
}

/// Every namespace the harness makes starts with this.
const NS_PREFIX: &str = "nv";

static SWEEP: std::sync::Once = std::sync::Once::new();

/// Removes what killed runs left behind (a SIGKILLed test runs no destructors): every `nv*`
/// namespace whose creating process is gone, after killing what still runs in it, and every
/// `nv*` namespace nothing runs in whose creator cannot be told (older names). A namespace
/// of a live process, another test binary running at the same time, is left alone.
pub fn sweep_stale() {
    let Ok(list) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        // `ip netns list` prints "name" or "name (id: N)".
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        if !name.starts_with(NS_PREFIX) {
            continue;
        }
        let pids = ns_pids(name);
        let stale = match creator(name) {
            Some(pid) => !alive(pid),
            None => pids.is_empty(),
        };
        if stale {
            kill_and_delete(name, &pids);
        }
    }
    // Scratch directories (sockets, configurations, logs) of runs that are gone.
    let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("nvesec-") && creator(&name).is_some_and(|p| !alive(p)) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn ns_pids(name: &str) -> Vec<String> {
    Command::new("ip")
        .args(["netns", "pids", name])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn kill_and_delete(name: &str, pids: &[String]) {
    // Killing what still runs inside first lets `netns del` free the name.
    for pid in pids {
        let _ = Command::new("kill").args(["-9", pid]).status();
    }
    let _ = Command::new("ip").args(["netns", "del", name]).status();
}

/// One network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a namespace with its loopback up, named `nv<prefix>-<pid>-<n>` (hex pid) so
    /// that a later run can tell whose it was (see [`sweep_stale`]).
    pub fn new(prefix: &str) -> Result<Self, HarnessError> {
        SWEEP.call_once(sweep_stale);
        let prefix = prefix.strip_prefix(NS_PREFIX).unwrap_or(prefix);
        let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let name = format!("{NS_PREFIX}{prefix}-{:x}-{n}", std::process::id());
        ip(&["netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip ARGS` inside the namespace.
    pub fn ip(&self, args: &[&str]) -> Result<Output, HarnessError> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// A command that will run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `program args` inside the namespace and returns its output.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<Output, HarnessError> {
        run(self.command(program).args(args))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        kill_and_delete(&self.name, &ns_pids(&self.name));
    }
}

/// Connects two namespaces with a veth pair and gives each end an address
/// (`10.x.y.z/24` style CIDR strings). Returns the two interface names.
pub fn link(
    a: &Netns,
    a_cidr: &str,
    b: &Netns,
    b_cidr: &str,
) -> Result<(String, String), HarnessError> {
    let (ea, eb) = (unique_name("va"), unique_name("vb"));
    ip(&[
        "link",
        "add",
        &ea,
        "netns",
        a.name(),
        "type",
        "veth",
        "peer",
        "name",
        &eb,
        "netns",
        b.name(),
    ])?;
    for (ns, dev, cidr) in [(a, &ea, a_cidr), (b, &eb, b_cidr)] {
        ns.ip(&["addr", "add", cidr, "dev", dev])?;
        ns.ip(&["link", "set", dev, "up"])?;
    }
    Ok((ea, eb))
}
