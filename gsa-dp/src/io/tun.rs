//! tun (L3) and tap (L2) devices: open `/dev/net/tun` non-blocking, attach it with TUNSETIFF
//! (IFF_NO_PI: frames carry no packet-information prefix), then set the MTU and bring the link
//! up with `ip link` (the one-off configuration does not need more syscall wrappers).

use crate::offload::{VnetHdr, VNET_HDR_LEN};
use nvesec_sys::tun::{
    IFF_MULTI_QUEUE, IFF_NO_PI, IFF_TAP, IFF_TUN, IFF_VNET_HDR, TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6,
    TUN_F_TSO_ECN, TUN_F_USO4, TUN_F_USO6,
};
use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Read, Write};
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
    /// Frames carry a `virtio_net_hdr` and reads may be TCP super-packets (see
    /// [`crate::offload`]).
    vnet: bool,
    /// The kernel took UDP segmentation offload too (TUN_F_USO4/6): writes may carry
    /// GSO_UDP_L4 super-packets.
    uso: bool,
}

impl Device {
    /// Open (creating if needed) device `name`, non-blocking, with `mtu`, and bring it up.
    pub fn open(name: &str, kind: Kind, mtu: u32) -> Result<Self, TunError> {
        Self::open_with(name, kind, mtu, false)
    }

    /// Like [`Self::open`]; with `offload` a tun (not a tap) is opened with IFF_VNET_HDR and
    /// TUNSETOFFLOAD (checksum + TSO4/6 + ECN): reads then return up to 64 KiB TCP
    /// super-packets and writes may carry coalesced ones. If the kernel refuses the offloads the
    /// device works without them (every frame still has a `virtio_net_hdr`, GSO_NONE).
    pub fn open_with(name: &str, kind: Kind, mtu: u32, offload: bool) -> Result<Self, TunError> {
        Self::open_queue(name, kind, mtu, offload, false)
    }

    /// Like [`Self::open_with`]; with `multi_queue` the device is opened with IFF_MULTI_QUEUE:
    /// every call on the same name adds one queue (one descriptor per worker) and the kernel
    /// steers each flow to one queue.
    pub fn open_queue(
        name: &str,
        kind: Kind,
        mtu: u32,
        offload: bool,
        multi_queue: bool,
    ) -> Result<Self, TunError> {
        let vnet = offload && kind == Kind::Tun;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix_flags())
            .open("/dev/net/tun")
            .map_err(TunError::Open)?;
        let flags = match kind {
            Kind::Tun => IFF_TUN,
            Kind::Tap => IFF_TAP,
        } | IFF_NO_PI
            | if vnet { IFF_VNET_HDR } else { 0 }
            | if multi_queue { IFF_MULTI_QUEUE } else { 0 };
        let name = nvesec_sys::tun::set_iff(file.as_fd(), name, flags)?;
        let mut uso = false;
        if vnet {
            let tso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
            // USO first (Linux 6.2+); older kernels refuse unknown flags, so retry without.
            if nvesec_sys::tun::set_offload(file.as_fd(), tso | TUN_F_USO4 | TUN_F_USO6).is_ok() {
                uso = true;
            } else if let Err(e) = nvesec_sys::tun::set_offload(file.as_fd(), tso) {
                eprintln!("gsa-dp: {name}: TUNSETOFFLOAD refused ({e}), no TSO");
            }
        }
        let mtu = mtu.to_string();
        ip_link(&name, &["mtu", &mtu, "up"])?;
        Ok(Device {
            file,
            name,
            kind,
            vnet,
            uso,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Whether frames carry a `virtio_net_hdr`.
    pub fn vnet(&self) -> bool {
        self.vnet
    }

    /// Whether writes may carry UDP super-packets (GSO_UDP_L4).
    pub fn uso(&self) -> bool {
        self.uso
    }

    /// One frame; `WouldBlock` when none is queued.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }

    /// One frame; a tun/tap write is all or nothing.
    pub fn send(&mut self, frame: &[u8]) -> io::Result<usize> {
        self.file.write(frame)
    }

    /// One frame given as slices (a coalesced super-packet: header and payloads in place).
    pub fn send_vectored(&mut self, frame: &[IoSlice<'_>]) -> io::Result<usize> {
        self.file.write_vectored(frame)
    }

    /// One plain IP packet to a device with [`Self::vnet`]: an all-zero header (no GSO, checksum
    /// complete) then the packet, in one `writev`.
    pub fn send_plain_vnet(&mut self, pkt: &[u8]) -> io::Result<usize> {
        let hdr = VnetHdr::default().to_bytes();
        let n = self
            .file
            .write_vectored(&[IoSlice::new(&hdr), IoSlice::new(pkt)])?;
        Ok(n.saturating_sub(VNET_HDR_LEN))
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
            vnet: false,
            uso: false,
        };
        assert_eq!(tun.protocol_type(&[0x45, 0]), Some(PT_IPV4));
        assert_eq!(tun.protocol_type(&[0x60, 0]), Some(PT_IPV6));
        assert_eq!(tun.protocol_type(&[0x10]), None);
        assert_eq!(tun.protocol_type(&[]), None);
        assert!(tun.carries(PT_IPV6) && !tun.carries(PT_ETHERNET));
    }
}
