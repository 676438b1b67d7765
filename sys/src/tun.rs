//! TUNSETIFF (linux/if_tun.h): attach an open `/dev/net/tun` descriptor to a tun or tap
//! interface. nix has no safe wrapper for it, so the one `ioctl` call lives here.

use nix::libc::{c_int, c_short};
use std::os::fd::{AsRawFd, BorrowedFd};

/// `IFF_TUN`: L3 device, frames are IP packets.
pub const IFF_TUN: c_short = 0x0001;
/// `IFF_TAP`: L2 device, frames are Ethernet frames.
pub const IFF_TAP: c_short = 0x0002;
/// `IFF_NO_PI`: no 4-byte packet-information prefix on each frame.
pub const IFF_NO_PI: c_short = 0x1000;
/// `IFF_VNET_HDR`: each frame starts with a `virtio_net_hdr` (offloads: GSO super-packets and
/// partial checksums).
pub const IFF_VNET_HDR: c_short = 0x4000;
/// `IFF_MULTI_QUEUE`: every TUNSETIFF on the same name adds a queue (one descriptor per worker).
pub const IFF_MULTI_QUEUE: c_short = 0x0100;

/// TUNSETOFFLOAD flags (linux/if_tun.h): what the kernel may hand us unfinished.
/// `TUN_F_CSUM`: packets may carry a partial checksum (`VIRTIO_NET_HDR_F_NEEDS_CSUM`).
pub const TUN_F_CSUM: u32 = 0x01;
/// `TUN_F_TSO4`: TCP over IPv4 super-packets (GSO_TCPV4).
pub const TUN_F_TSO4: u32 = 0x02;
/// `TUN_F_TSO6`: TCP over IPv6 super-packets (GSO_TCPV6).
pub const TUN_F_TSO6: u32 = 0x04;
/// `TUN_F_TSO_ECN`: super-packets may have CWR set (GSO_ECN).
pub const TUN_F_TSO_ECN: u32 = 0x08;
/// `TUN_F_USO4` / `TUN_F_USO6` (Linux 6.2+): UDP super-packets (GSO_UDP_L4), both ways.
pub const TUN_F_USO4: u32 = 0x20;
pub const TUN_F_USO6: u32 = 0x40;

/// Interface names are at most IFNAMSIZ - 1 bytes.
pub const IFNAMSIZ: usize = 16;

/// `struct ifreq` as TUNSETIFF reads and writes it: the name, then the flags in the union
/// (40 bytes on every Linux ABI nvesec targets).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IfReq {
    pub name: [u8; IFNAMSIZ],
    pub flags: c_short,
    _pad: [u8; 22],
}

/// Why attaching failed.
#[derive(Debug, thiserror::Error)]
pub enum TunError {
    #[error("interface name {0:?} is empty, too long (max 15 bytes) or contains NUL")]
    BadName(String),
    #[error("TUNSETIFF {name}: {errno}")]
    Ioctl { name: String, errno: nix::Error },
}

// TUNSETIFF = _IOW('T', 202, int) (linux/if_tun.h); the kernel really reads a struct ifreq and
// writes the chosen name back into it, hence the read-write (`*mut`) form with the _IOW code.
nix::ioctl_readwrite_bad!(
    tunsetiff,
    nix::request_code_write!(b'T', 202, std::mem::size_of::<c_int>()),
    IfReq
);

// TUNSETOFFLOAD = _IOW('T', 208, unsigned int) (linux/if_tun.h); the argument is the flag word
// itself, passed by value (drivers/net/tun.c: `case TUNSETOFFLOAD: ret = set_offload(tun, arg)`).
nix::ioctl_write_int!(tunsetoffload, b'T', 208);

impl IfReq {
    /// An ifreq for `name` with `flags`; refuses names the kernel would truncate.
    pub fn new(name: &str, flags: c_short) -> Result<Self, TunError> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() >= IFNAMSIZ || bytes.contains(&0) {
            return Err(TunError::BadName(name.to_string()));
        }
        let mut req = IfReq {
            name: [0; IFNAMSIZ],
            flags,
            _pad: [0; 22],
        };
        req.name[..bytes.len()].copy_from_slice(bytes);
        Ok(req)
    }

    /// The name the kernel wrote back (it fills in `%d` patterns).
    pub fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }
}

/// Attach `fd` (an open `/dev/net/tun`) to interface `name` with `flags` (`IFF_TUN` or
/// `IFF_TAP`, usually with `IFF_NO_PI`). Creates the interface if it does not exist. Returns the
/// interface name the kernel chose.
pub fn set_iff(fd: BorrowedFd<'_>, name: &str, flags: c_short) -> Result<String, TunError> {
    let mut req = IfReq::new(name, flags)?;
    // SAFETY: `fd` is a live descriptor for the duration of the call (BorrowedFd), and `req` is
    // a fully initialised, correctly sized `struct ifreq` that outlives the call; TUNSETIFF
    // reads it and writes back only within its 40 bytes.
    unsafe { tunsetiff(fd.as_raw_fd(), &mut req) }.map_err(|errno| TunError::Ioctl {
        name: name.to_string(),
        errno,
    })?;
    Ok(req.name())
}

/// Tell the kernel which offloads we handle on a tun opened with `IFF_VNET_HDR` (`TUN_F_*`
/// flags). With `TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6`, reads return TCP super-packets of up to
/// 64 KiB that we must segment, and writes may carry super-packets the kernel segments or
/// receives as one (GRO-like). An error means the kernel refuses those offloads: run without.
pub fn set_offload(fd: BorrowedFd<'_>, flags: u32) -> Result<(), nix::Error> {
    // SAFETY: `fd` is a live descriptor for the duration of the call (BorrowedFd); TUNSETOFFLOAD
    // takes its argument by value and touches no user memory. On a descriptor that is not a tun
    // the kernel answers with an error (ENOTTY/EBADFD), which we return.
    unsafe {
        tunsetoffload(
            fd.as_raw_fd(),
            nix::sys::ioctl::ioctl_param_type::from(flags),
        )
    }?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifreq_layout_matches_the_kernel() {
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
        let r = IfReq::new("nv0", IFF_TUN | IFF_NO_PI).unwrap();
        assert_eq!(&r.name[..4], b"nv0\0");
        assert_eq!(r.flags, 0x1001);
        assert_eq!(r.name(), "nv0");
    }

    #[test]
    fn bad_names_are_refused() {
        for n in ["", "sixteen-bytes-xx", "a\0b"] {
            assert!(
                matches!(IfReq::new(n, IFF_TUN), Err(TunError::BadName(_))),
                "{n:?}"
            );
        }
        assert!(IfReq::new("fifteen-bytes-x", IFF_TUN).is_ok());
    }

    #[test]
    fn set_offload_on_a_non_tun_fd_is_an_error() {
        let f = std::fs::File::open("/dev/null").unwrap();
        use std::os::fd::AsFd;
        assert!(set_offload(f.as_fd(), TUN_F_CSUM).is_err());
    }

    #[test]
    fn offload_request_code_matches_if_tun_h() {
        // _IOW('T', 208, unsigned int) = dir 1 << 30 | size 4 << 16 | 'T' << 8 | 208.
        assert_eq!(
            nix::request_code_write!(b'T', 208, std::mem::size_of::<nix::libc::c_int>()),
            0x4004_54d0
        );
    }

    #[test]
    fn set_iff_on_a_non_tun_fd_is_an_error() {
        let f = std::fs::File::open("/dev/null").unwrap();
        use std::os::fd::AsFd;
        let e = set_iff(f.as_fd(), "nvx0", IFF_TUN).unwrap_err();
        assert!(matches!(e, TunError::Ioctl { .. }), "{e}");
    }
}
