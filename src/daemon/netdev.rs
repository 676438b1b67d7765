//! Addresses of the overlay devices. gsa-dp creates the tun/tap devices (from its `--tun` /
//! `--tap` flags, see `nvesecd --dp-args`) and brings them up; the `address` of each
//! `overlay.networks` entry is assigned here, with `ip addr replace`, once gsa-dp is
//! reachable (so the device exists). Idempotent: a repeated call changes nothing.

use std::process::{Command, Stdio};

use nvesec_conf as conf;

/// `ip addr replace ADDR/LEN dev IFNAME` for every network with an address; the errors.
pub fn assign_addresses(overlay: &conf::Overlay) -> Vec<String> {
    let mut errors = Vec::new();
    for n in &overlay.networks {
        let Some(a) = n.address else { continue };
        let cidr = format!("{}/{}", a.addr, a.len);
        let mut args = vec!["addr", "replace", cidr.as_str(), "dev", n.ifname.as_str()];
        if a.addr.is_ipv6() {
            args.push("nodad");
        }
        match Command::new("ip").args(&args).stdin(Stdio::null()).output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => errors.push(format!(
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => errors.push(format!("ip {}: {e}", args.join(" "))),
        }
    }
    errors
}
