//! IP prefixes (`10.1.0.0/16`) and interface addresses (`10.1.0.1/16`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A network prefix; host bits are zero (checked when parsed, so `10.1.0.1/16` is refused
/// with a hint, since it usually means the operator wanted an interface address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

/// An address with its prefix length, as assigned to an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IfAddr {
    pub addr: IpAddr,
    pub len: u8,
}

fn max_len(addr: &IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

fn split(s: &str) -> Result<(IpAddr, u8), String> {
    let (a, l) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = a
        .parse()
        .map_err(|_| format!("'{a}' is not an IP address; expected an IPv4 or IPv6 address"))?;
    let max = max_len(&addr);
    let len = match l {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => {
                return Err(format!(
                    "'/{l}' is not a valid prefix length; expected 0 to {max}"
                ))
            }
        },
    };
    Ok((addr, len))
}

impl Prefix {
    /// A prefix from an address and length; host bits are cleared.
    pub fn new(addr: IpAddr, len: u8) -> Option<Prefix> {
        (len <= max_len(&addr)).then(|| Prefix {
            addr: mask(addr, len),
            len,
        })
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn len(&self) -> u8 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether `other` lies entirely inside this prefix.
    pub fn contains(&self, other: &Prefix) -> bool {
        self.addr.is_ipv4() == other.addr.is_ipv4()
            && self.len <= other.len
            && mask(other.addr, self.len) == self.addr
    }
}

impl FromStr for Prefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = split(s)?;
        let net = mask(addr, len);
        if net != addr {
            return Err(format!(
                "'{s}' has host bits set; expected a network prefix such as {net}/{len}"
            ));
        }
        Ok(Prefix { addr, len })
    }
}

impl FromStr for IfAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = split(s)?;
        Ok(IfAddr { addr, len })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl fmt::Display for IfAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_contain() {
        let p: Prefix = "10.1.0.0/16".parse().unwrap();
        let q: Prefix = "10.1.2.0/24".parse().unwrap();
        assert!(p.contains(&q) && !q.contains(&p));
        assert_eq!(
            "10.1.2.3".parse::<Prefix>().unwrap().to_string(),
            "10.1.2.3/32"
        );
        assert_eq!("fd00::/8".parse::<Prefix>().unwrap().len(), 8);
        assert_eq!(
            "10.1.0.1/16".parse::<Prefix>().unwrap_err(),
            "'10.1.0.1/16' has host bits set; expected a network prefix such as 10.1.0.0/16"
        );
        assert!("10.1.0.0/33".parse::<Prefix>().is_err());
        assert!("10.1.0.300/24".parse::<Prefix>().is_err());
        assert_eq!(
            Prefix::new("10.1.2.3".parse().unwrap(), 0)
                .unwrap()
                .to_string(),
            "0.0.0.0/0"
        );
        assert_eq!(
            "10.1.0.1/16".parse::<IfAddr>().unwrap().to_string(),
            "10.1.0.1/16"
        );
    }
}
