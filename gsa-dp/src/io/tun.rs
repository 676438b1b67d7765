//! tun (L3) and tap (L2) devices: open `/dev/net/tun` non-blocking, attach it with TUNSETIFF
//! (IFF_NO_PI: frames carry no packet-information prefix), then set the MTU and bring the link
//! up with `ip link` (the one-off configuration does not need more syscall wrappers).

use nvesec_sys::tun::{IFF_NO_PI, IFF_TAP, IFF_TUN};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::process::Command;

/// Geneve Protocol Type of what a device carries (RFC 8926 §3.4 uses EtherType values).
pub const PT_IPV4: u16 = 0x0800;
pub const PT_IPV6: u16 = 0x86DD;
pub const PT_ETHERNET: u16 = 0x6558;

/// L3 (tun) or L2 (tap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tun,
    Tap,
}

#[derive(Debug, thiserror::Error)]
pub enum TunError {
    #[error("open /dev/net/tun: {0}")]
    Open(io::Error),
    #[error(transparent)]
    Attach(#[from] nvesec_sys::tun::TunError),
    #[error("ip link set {dev}: {msg}")]
    Configure { dev: String, msg: String },
}

/// One open tun/tap device.
#[derive(Debug)]
pub struct Device {
    file: File,
    name: String,
    kind: Kind,
}

impl Device {
    /// Open (creating if needed) device `name`, non-blocking, with `mtu`, and bring it up.
    pub fn open(name: &str, kind: Kind, mtu: u32) -> Result<Self, TunError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix_flags())
            .open("/dev/net/tun")
            .map_err(TunError::Open)?;
        let flags = match kind {
            Kind::Tun => IFF_TUN,
            Kind::Tap => IFF_TAP,
        } | IFF_NO_PI;
        let name = nvesec_sys::tun::set_iff(file.as_fd(), name, flags)?;
        let mtu = mtu.to_string();
        ip_link(&name, &["mtu", &mtu, "up"])?;
        Ok(Device { file, name, kind })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// One frame; `WouldBlock` when none is queued.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }

    /// One frame; a tun/tap write is all or nothing.
    pub fn send(&mut self, frame: &[u8]) -> io::Result<usize> {
        self.file.write(frame)
    }

    /// Geneve Protocol Type of a frame read from this device, `None` for what we do not carry.
    pub fn protocol_type(&self, frame: &[u8]) -> Option<u16> {
        match self.kind {
            Kind::Tap => Some(PT_ETHERNET),
            Kind::Tun => match frame.first().map(|b| b >> 4) {
                Some(4) => Some(PT_IPV4),
                Some(6) => Some(PT_IPV6),
                _ => None,
            },
        }
    }

    /// Whether this device takes frames of `protocol_type`.
    pub fn carries(&self, protocol_type: u16) -> bool {
        match self.kind {
            Kind::Tap => protocol_type == PT_ETHERNET,
            Kind::Tun => protocol_type == PT_IPV4 || protocol_type == PT_IPV6,
        }
    }
}

impl AsRawFd for Device {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

fn nix_flags() -> i32 {
    // O_NONBLOCK: the mio loop reads until WouldBlock. O_CLOEXEC: `ip` children must not
    // inherit the device.
    nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC
}

fn ip_link(dev: &str, args: &[&str]) -> Result<(), TunError> {
    let out = Command::new("ip")
        .args(["link", "set", "dev", dev])
        .args(args)
        .output()
        .map_err(|e| TunError::Configure {
            dev: dev.into(),
            msg: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TunError::Configure {
            dev: dev.into(),
            msg: String::from_utf8_lossy(&out.stderr).trim().into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_type_follows_the_ip_version_nibble() {
        let f = File::open("/dev/null").unwrap();
        let tun = Device {
            file: f,
            name: "x".into(),
            kind: Kind::Tun,
        };
        assert_eq!(tun.protocol_type(&[0x45, 0]), Some(PT_IPV4));
        assert_eq!(tun.protocol_type(&[0x60, 0]), Some(PT_IPV6));
        assert_eq!(tun.protocol_type(&[0x10]), None);
        assert_eq!(tun.protocol_type(&[]), None);
        assert!(tun.carries(PT_IPV6) && !tun.carries(PT_ETHERNET));
    }
}
