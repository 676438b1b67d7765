//! Subject distinguished names and subjectAltNames as strongSwan's pki
//! spells them on the command line: `--dn "C=CH, O=nvesec, CN=nve1"`,
//! `--san nve1.example.net`, `--san 192.0.2.1`, `--san ops@example.net`.

use std::net::IpAddr;

/// A DN or SAN string could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// `--dn` text does not parse.
    #[error("invalid distinguished name '{0}': {1}")]
    BadDn(String, &'static str),
    /// `--san` text does not parse.
    #[error("invalid subjectAltName '{0}'")]
    BadSan(String),
}

/// One subjectAltName entry of the kinds IKE identities use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubjectAltName {
    /// dNSName (IKE ID_FQDN)
    Dns(String),
    /// iPAddress (IKE ID_IPV4_ADDR / ID_IPV6_ADDR)
    Ip(IpAddr),
    /// rfc822Name (IKE ID_RFC822_ADDR)
    Email(String),
}

impl SubjectAltName {
    /// strongSwan's rule: an IP address, else `user@domain` is an email,
    /// else a host name. Prefixes `dns:`, `ip:`, `email:` force a kind.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let bad = || NameError::BadSan(text.to_string());
        let (kind, value) = match text.split_once(':') {
            Some((k @ ("dns" | "ip" | "email"), v)) => (Some(k), v),
            _ => (None, text),
        };
        if value.is_empty() || !value.is_ascii() || value.contains(char::is_whitespace) {
            return Err(bad());
        }
        match kind {
            Some("ip") => value.parse().map(Self::Ip).map_err(|_| bad()),
            Some("email") => Ok(Self::Email(value.into())),
            Some(_) => Ok(Self::Dns(value.into())),
            None => Ok(if let Ok(ip) = value.parse() {
                Self::Ip(ip)
            } else if value.contains('@') {
                Self::Email(value.into())
            } else {
                Self::Dns(value.into())
            }),
        }
    }

    pub(crate) fn to_rcgen(&self) -> Result<rcgen::SanType, NameError> {
        let bad = || NameError::BadSan(self.to_string());
        Ok(match self {
            Self::Dns(d) => rcgen::SanType::DnsName(d.clone().try_into().map_err(|_| bad())?),
            Self::Ip(ip) => rcgen::SanType::IpAddress(*ip),
            Self::Email(e) => rcgen::SanType::Rfc822Name(e.clone().try_into().map_err(|_| bad())?),
        })
    }

    /// The SANs of a parsed certificate or CSR extension; kinds nvesec does
    /// not use (URI, otherName, ...) are skipped.
    pub(crate) fn from_general_names(
        names: &[x509_parser::extensions::GeneralName<'_>],
    ) -> Vec<Self> {
        use x509_parser::extensions::GeneralName;
        names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(Self::Dns((*d).to_string())),
                GeneralName::RFC822Name(e) => Some(Self::Email((*e).to_string())),
                GeneralName::IPAddress(b) => ip_from_bytes(b).map(Self::Ip),
                _ => None,
            })
            .collect()
    }
}

impl std::fmt::Display for SubjectAltName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dns(d) => write!(f, "{d}"),
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Email(e) => write!(f, "{e}"),
        }
    }
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

/// RDN attribute names strongSwan and OpenSSL understand, with their OIDs.
const ATTRIBUTES: &[(&str, &[u64])] = &[
    ("C", &[2, 5, 4, 6]),
    ("ST", &[2, 5, 4, 8]),
    ("L", &[2, 5, 4, 7]),
    ("O", &[2, 5, 4, 10]),
    ("OU", &[2, 5, 4, 11]),
    ("CN", &[2, 5, 4, 3]),
    ("SN", &[2, 5, 4, 4]),
    ("serialNumber", &[2, 5, 4, 5]),
    ("E", &[1, 2, 840, 113549, 1, 9, 1]),
    ("emailAddress", &[1, 2, 840, 113549, 1, 9, 1]),
    ("DC", &[0, 9, 2342, 19200300, 100, 1, 25]),
    ("UID", &[0, 9, 2342, 19200300, 100, 1, 1]),
];

/// A subject DN being built for a certificate or CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dn {
    rdns: Vec<(Vec<u64>, String)>,
}

impl Dn {
    /// Parse `"C=CH, O=nvesec, CN=nve1"` (strongSwan/RFC 4514 order, `,` or
    /// `/` separated; `\,` escapes a comma). A bare host name becomes `CN=name`.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let bad = |why| NameError::BadDn(text.to_string(), why);
        let text_trim = text.trim();
        if text_trim.is_empty() {
            return Err(bad("empty"));
        }
        if !text_trim.contains('=') {
            return Ok(Self::common_name(text_trim));
        }
        let mut rdns = Vec::new();
        for part in split_unescaped(text_trim.trim_start_matches('/')) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (name, value) = part.split_once('=').ok_or_else(|| bad("missing '='"))?;
            let oid = ATTRIBUTES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
                .map(|(_, oid)| oid.to_vec())
                .ok_or_else(|| bad("unknown attribute name"))?;
            let value = value.trim().replace("\\,", ",").replace("\\/", "/");
            if value.is_empty() {
                return Err(bad("empty attribute value"));
            }
            rdns.push((oid, value));
        }
        if rdns.is_empty() {
            return Err(bad("no attributes"));
        }
        Ok(Self { rdns })
    }

    /// `CN=<name>`.
    pub fn common_name(name: &str) -> Self {
        Self {
            rdns: vec![(vec![2, 5, 4, 3], name.to_string())],
        }
    }

    /// The (last) CN value, if any.
    pub fn cn(&self) -> Option<&str> {
        self.rdns
            .iter()
            .rev()
            .find(|(oid, _)| oid == &[2, 5, 4, 3])
            .map(|(_, v)| v.as_str())
    }

    /// Copy a parsed X.509 name (CSR subject).
    pub(crate) fn from_x509_name(
        name: &x509_parser::x509::X509Name<'_>,
    ) -> Result<Self, NameError> {
        let mut rdns = Vec::new();
        for attr in name.iter_attributes() {
            let oid: Vec<u64> = attr
                .attr_type()
                .iter()
                .map(|it| it.collect())
                .ok_or_else(|| NameError::BadDn(name.to_string(), "bad OID"))?;
            let value = attr
                .as_str()
                .map_err(|_| NameError::BadDn(name.to_string(), "non-string attribute"))?;
            rdns.push((oid, value.to_string()));
        }
        Ok(Self { rdns })
    }

    pub(crate) fn to_rcgen(&self) -> rcgen::DistinguishedName {
        let mut dn = rcgen::DistinguishedName::new();
        for (oid, value) in &self.rdns {
            let ty = rcgen::DnType::from_oid(oid);
            // Country is a PrintableString (RFC 5280 Appendix A); the rest UTF8String.
            let v = if oid == &[2, 5, 4, 6] {
                rcgen::string::PrintableString::try_from(value.clone())
                    .map(rcgen::DnValue::PrintableString)
                    .unwrap_or_else(|_| rcgen::DnValue::Utf8String(value.clone()))
            } else if oid.starts_with(&[1, 2, 840, 113549, 1, 9, 1])
                || oid.starts_with(&[0, 9, 2342])
            {
                rcgen::string::Ia5String::try_from(value.clone())
                    .map(rcgen::DnValue::Ia5String)
                    .unwrap_or_else(|_| rcgen::DnValue::Utf8String(value.clone()))
            } else {
                rcgen::DnValue::Utf8String(value.clone())
            };
            dn.push(ty, v);
        }
        dn
    }
}

impl std::fmt::Display for Dn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .rdns
            .iter()
            .map(|(oid, v)| {
                let name = ATTRIBUTES
                    .iter()
                    .find(|(_, o)| *o == oid.as_slice())
                    .map(|(n, _)| (*n).to_string())
                    .unwrap_or_else(|| {
                        oid.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
                    });
                format!("{name}={v}")
            })
            .collect();
        write!(f, "{}", parts.join(", "))
    }
}

fn split_unescaped(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in text.chars() {
        match c {
            _ if escaped => {
                cur.push('\\');
                cur.push(c);
                escaped = false;
            }
            '\\' => escaped = true,
            ',' | '/' => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    parts
}

/// The OVN identity rule: a CN that looks like a host name is also a SAN
/// dNSName (ecosystem notes §2.1: CN = chassis name, SAN DNS = CN).
pub fn looks_like_hostname(cn: &str) -> bool {
    !cn.is_empty()
        && cn.len() <= 253
        && cn.parse::<IpAddr>().is_err()
        && cn.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_parses_strongswan_and_openssl_styles() {
        let a = Dn::parse("C=CH, O=nvesec, CN=nve1.example.net").unwrap();
        let b = Dn::parse("/C=CH/O=nvesec/CN=nve1.example.net").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "C=CH, O=nvesec, CN=nve1.example.net");
        assert_eq!(a.cn(), Some("nve1.example.net"));
        assert_eq!(Dn::parse("nve2").unwrap().to_string(), "CN=nve2");
        assert_eq!(
            Dn::parse("O=a\\, b, CN=x").unwrap().to_string(),
            "O=a, b, CN=x"
        );
        assert!(Dn::parse("XX=1").is_err());
        assert!(Dn::parse("CN=").is_err());
    }

    #[test]
    fn san_kinds_follow_strongswan() {
        assert_eq!(
            SubjectAltName::parse("nve1").unwrap(),
            SubjectAltName::Dns("nve1".into())
        );
        assert_eq!(
            SubjectAltName::parse("192.0.2.1").unwrap(),
            SubjectAltName::Ip("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            SubjectAltName::parse("2001:db8::1").unwrap(),
            SubjectAltName::Ip("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            SubjectAltName::parse("ops@example.net").unwrap(),
            SubjectAltName::Email("ops@example.net".into())
        );
        assert_eq!(
            SubjectAltName::parse("dns:10.0.0.1").unwrap(),
            SubjectAltName::Dns("10.0.0.1".into())
        );
        assert!(SubjectAltName::parse("ip:nope").is_err());
        assert!(SubjectAltName::parse("a b").is_err());
    }

    #[test]
    fn hostname_rule() {
        assert!(looks_like_hostname("nve-1.dc1.example.net"));
        assert!(looks_like_hostname("chassis7"));
        assert!(!looks_like_hostname("My CA"));
        assert!(!looks_like_hostname("10.0.0.1"));
        assert!(!looks_like_hostname("-bad"));
    }
}
