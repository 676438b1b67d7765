//! Distinguished names compared as RDN sequences (RFC 5280 §4.1.2.4, §7.1),
//! for `id = CN=..., O=...` in nvesec.conf and for directoryName name
//! constraints (RFC 5280 §4.2.1.10).
//!
//! A configured DN is parsed, escapes resolved, into its RDN sequence and
//! compared with a certificate's subject RDN by RDN, attribute type by OID.
//! The text is written in certificate (DER) order, as strongSwan and
//! `nvesec-pki --dn` write it: `C=CH, O=org, CN=nve1` is the subject whose
//! first RDN is C. `/C=CH/O=org/CN=nve1` (a leading `/` makes `/` the
//! separator) is the same name. Escapes are RFC 4514 §2.4's: `\,` `\+` `\"`
//! `\\` `\=` `\;` `\<` `\>` `\#` `\/` `\ ` and `\XX` hex pairs (UTF-8
//! bytes); an unescaped `+` joins attributes into one multi-valued RDN. A
//! `#hex` (BER) value is refused.
//!
//! Values are compared with RFC 5280 §7.1's basic rules, as every attribute
//! nvesec knows is a caseIgnore string: case-insensitive (Unicode lower
//! case), leading and trailing white space removed and inner runs of white
//! space compressed to one space (RFC 4518 §2.6.1). No Unicode (NFKC)
//! normalization is done. A value that is not a character string is
//! compared byte for byte with the same tag, so it never equals text.

use crate::names::NameError;
use x509_parser::asn1_rs::Tag;
use x509_parser::prelude::{FromDer, X509Name};

/// Attribute names accepted in a configured DN (besides dotted OIDs).
const ATTRIBUTES: &[(&str, &[u64])] = &[
    ("C", &[2, 5, 4, 6]),
    ("ST", &[2, 5, 4, 8]),
    ("S", &[2, 5, 4, 8]),
    ("L", &[2, 5, 4, 7]),
    ("O", &[2, 5, 4, 10]),
    ("OU", &[2, 5, 4, 11]),
    ("CN", &[2, 5, 4, 3]),
    ("SN", &[2, 5, 4, 4]),
    ("G", &[2, 5, 4, 42]),
    ("GN", &[2, 5, 4, 42]),
    ("I", &[2, 5, 4, 43]),
    ("T", &[2, 5, 4, 12]),
    ("STREET", &[2, 5, 4, 9]),
    ("postalCode", &[2, 5, 4, 17]),
    ("serialNumber", &[2, 5, 4, 5]),
    ("dnQualifier", &[2, 5, 4, 46]),
    ("pseudonym", &[2, 5, 4, 65]),
    ("E", &[1, 2, 840, 113549, 1, 9, 1]),
    ("emailAddress", &[1, 2, 840, 113549, 1, 9, 1]),
    ("DC", &[0, 9, 2342, 19200300, 100, 1, 25]),
    ("UID", &[0, 9, 2342, 19200300, 100, 1, 1]),
];

/// The emailAddress attribute (PKCS #9), which RFC 5280 §4.2.1.10 subjects
/// to rfc822Name constraints.
pub(crate) const EMAIL_ADDRESS: &[u64] = &[1, 2, 840, 113549, 1, 9, 1];

/// One attribute value, ready for comparison.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Value {
    /// A character string, normalized (RFC 5280 §7.1, see the module doc).
    Text(String),
    /// Anything else: its tag and content octets.
    Other(u32, Vec<u8>),
}

/// One AttributeTypeAndValue.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Attribute {
    oid: Vec<u64>,
    value: Value,
}

/// A distinguished name as its RDN sequence; two names are equal when they
/// have the same RDNs in the same order, each with the same set of
/// attributes (RFC 5280 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RdnSequence {
    /// Each RDN's attributes sorted, so a multi-valued RDN compares as a set.
    rdns: Vec<Vec<Attribute>>,
}

fn normalize(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl RdnSequence {
    /// Parse a configured DN (`C=CH, O=org, CN=nve1`, `/C=CH/O=org/CN=nve1`,
    /// RFC 4514 escapes; see the module doc).
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let bad = |why| NameError::BadDn(text.to_string(), why);
        let trimmed = text.trim();
        let (sep, body) = match trimmed.strip_prefix('/') {
            Some(rest) => ('/', rest),
            None => (',', trimmed),
        };
        let mut rdns: Vec<Vec<Attribute>> = Vec::new();
        let mut rdn: Vec<Attribute> = Vec::new();
        // The attribute being read: its type text, then its value bytes.
        let mut ty = String::new();
        let mut value: Vec<u8> = Vec::new();
        let mut in_value = false;
        let mut chars = body.chars().peekable();
        let finish_attr = |ty: &mut String,
                           value: &mut Vec<u8>,
                           in_value: &mut bool,
                           rdn: &mut Vec<Attribute>|
         -> Result<(), NameError> {
            if !*in_value {
                return Err(bad(if ty.trim().is_empty() {
                    "empty attribute"
                } else {
                    "missing '='"
                }));
            }
            let oid = attribute_oid(ty.trim()).ok_or_else(|| bad("unknown attribute name"))?;
            let v = String::from_utf8(std::mem::take(value))
                .map_err(|_| bad("escaped bytes are not UTF-8"))?;
            if v.trim().is_empty() {
                return Err(bad("empty attribute value"));
            }
            rdn.push(Attribute {
                oid,
                value: Value::Text(normalize(&v)),
            });
            ty.clear();
            *in_value = false;
            Ok(())
        };
        while let Some(c) = chars.next() {
            if !in_value {
                match c {
                    '=' => {
                        in_value = true;
                        // RFC 4514 §2.4: '#' at the start is a BER value.
                        while chars.peek().is_some_and(|c| *c == ' ') {
                            chars.next();
                        }
                        if chars.peek() == Some(&'#') {
                            return Err(bad("#hex (BER) attribute values are not supported"));
                        }
                    }
                    '\\' => return Err(bad("escape in an attribute name")),
                    c if c == sep || c == '+' => {
                        return Err(bad(if ty.trim().is_empty() {
                            "empty attribute"
                        } else {
                            "missing '='"
                        }))
                    }
                    c => ty.push(c),
                }
                continue;
            }
            match c {
                '\\' => match chars.next() {
                    Some(h) if h.is_ascii_hexdigit() => {
                        let l = chars
                            .next()
                            .filter(char::is_ascii_hexdigit)
                            .ok_or_else(|| bad("incomplete \\XX escape"))?;
                        let byte = (h.to_digit(16).unwrap_or(0) << 4) | l.to_digit(16).unwrap_or(0);
                        value.push(byte as u8);
                    }
                    Some(
                        e @ (',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' | '#' | '/' | ' '),
                    ) => value.push(e as u8),
                    _ => return Err(bad("invalid escape")),
                },
                '+' => finish_attr(&mut ty, &mut value, &mut in_value, &mut rdn)?,
                c if c == sep => {
                    finish_attr(&mut ty, &mut value, &mut in_value, &mut rdn)?;
                    rdn.sort();
                    rdns.push(std::mem::take(&mut rdn));
                }
                c => {
                    let mut buf = [0u8; 4];
                    value.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if !in_value && ty.trim().is_empty() && rdn.is_empty() {
            // A trailing separator ("CN=x,") or nothing at all.
            if rdns.is_empty() {
                return Err(bad("no attributes"));
            }
            return Err(bad("empty attribute"));
        }
        finish_attr(&mut ty, &mut value, &mut in_value, &mut rdn)?;
        rdn.sort();
        rdns.push(rdn);
        Ok(Self { rdns })
    }

    /// The RDN sequence of a parsed X.509 name.
    pub fn from_x509_name(name: &X509Name<'_>) -> Self {
        let rdns = name
            .iter_rdn()
            .map(|rdn| {
                let mut attrs: Vec<Attribute> = rdn
                    .iter()
                    .map(|a| Attribute {
                        oid: a
                            .attr_type()
                            .iter()
                            .map(|it| it.collect())
                            .unwrap_or_default(),
                        value: decode_value(a.attr_value().tag(), a.attr_value().data),
                    })
                    .collect();
                attrs.sort();
                attrs
            })
            .collect();
        Self { rdns }
    }

    /// The RDN sequence of a DER Name (a certificate's subject DER).
    pub fn from_der(der: &[u8]) -> Result<Self, NameError> {
        let (_, name) = X509Name::from_der(der)
            .map_err(|_| NameError::BadDn(format!("{} DER bytes", der.len()), "malformed Name"))?;
        Ok(Self::from_x509_name(&name))
    }

    /// Whether a certificate's subject (DER Name) is this name.
    pub fn matches_der(&self, subject_der: &[u8]) -> bool {
        Self::from_der(subject_der).is_ok_and(|s| s == *self)
    }

    /// Whether this name lies in the subtree `base` (its first RDNs are
    /// those of `base`), RFC 5280 §4.2.1.10 directoryName.
    pub fn within(&self, base: &RdnSequence) -> bool {
        self.rdns.starts_with(&base.rdns)
    }

    /// Whether the name has no RDNs (an empty subject).
    pub fn is_empty(&self) -> bool {
        self.rdns.is_empty()
    }

    /// The text values of the attributes of type `oid`.
    pub(crate) fn texts<'a>(&'a self, oid: &'a [u64]) -> impl Iterator<Item = &'a str> + 'a {
        self.rdns
            .iter()
            .flatten()
            .filter(move |a| a.oid == oid)
            .filter_map(|a| match &a.value {
                Value::Text(t) => Some(t.as_str()),
                Value::Other(..) => None,
            })
    }
}

fn attribute_oid(name: &str) -> Option<Vec<u64>> {
    if let Some((_, oid)) = ATTRIBUTES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        return Some(oid.to_vec());
    }
    // RFC 4514 §3: a dotted-decimal OID (strongSwan and OpenSSL also take "OID.").
    let dotted = name
        .strip_prefix("OID.")
        .or_else(|| name.strip_prefix("oid."))
        .unwrap_or(name);
    let arcs: Option<Vec<u64>> = dotted.split('.').map(|a| a.parse().ok()).collect();
    arcs.filter(|a| a.len() >= 2)
}

/// A value's text, for the directory string types RFC 5280 §4.1.2.4 allows
/// (and IA5String, NumericString, VisibleString).
fn decode_value(tag: Tag, data: &[u8]) -> Value {
    let text = match tag {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString => std::str::from_utf8(data).ok().map(str::to_string),
        Tag::BmpString if data.len().is_multiple_of(2) => char::decode_utf16(
            data.chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]])),
        )
        .collect::<Result<String, _>>()
        .ok(),
        Tag::UniversalString if data.len().is_multiple_of(4) => data
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        // T.61 in practice carries Latin-1.
        Tag::TeletexString => Some(data.iter().map(|b| char::from(*b)).collect()),
        _ => None,
    };
    match text {
        Some(t) => Value::Text(normalize(&t)),
        None => Value::Other(tag.0, data.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{DnType, DnValue};

    /// The subject DER of a self-signed rcgen certificate with these RDNs.
    fn subject(rdns: &[(DnType, DnValue)]) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in rdns {
            p.distinguished_name.push(t.clone(), v.clone());
        }
        let cert = p.self_signed(&key).unwrap();
        let (_, x) = x509_parser::parse_x509_certificate(cert.der()).unwrap();
        x.subject().as_raw().to_vec()
    }

    fn utf8(s: &str) -> DnValue {
        DnValue::Utf8String(s.into())
    }

    fn dn(text: &str) -> RdnSequence {
        RdnSequence::parse(text).unwrap()
    }

    #[test]
    fn a_cn_holding_a_comma_is_not_two_rdns() {
        let single = subject(&[(DnType::CommonName, utf8("nve1, O=Corp"))]);
        let two = subject(&[
            (DnType::CommonName, utf8("nve1")),
            (DnType::OrganizationName, utf8("Corp")),
        ]);
        assert!(!dn("CN=nve1, O=Corp").matches_der(&single));
        assert!(dn("CN=nve1, O=Corp").matches_der(&two));
        assert!(dn("CN=nve1\\, O=Corp").matches_der(&single));
        assert!(!dn("CN=nve1\\, O=Corp").matches_der(&two));
        // RFC 4514 hex pair for the comma.
        assert!(dn("CN=nve1\\2C O=Corp").matches_der(&single));
        assert!(dn("/CN=nve1/O=Corp").matches_der(&two));
        // A '/' in a comma-separated DN is part of the value.
        let slash = subject(&[(DnType::CommonName, utf8("a/b"))]);
        assert!(dn("CN=a/b").matches_der(&slash));
        assert!(dn("/CN=a\\/b").matches_der(&slash));
    }

    #[test]
    fn rdn_order_count_and_types_matter() {
        let two = subject(&[
            (DnType::CommonName, utf8("nve1")),
            (DnType::OrganizationName, utf8("Corp")),
        ]);
        assert!(!dn("O=Corp, CN=nve1").matches_der(&two));
        assert!(!dn("CN=nve1").matches_der(&two));
        assert!(!dn("CN=nve1, O=Corp, OU=x").matches_der(&two));
        assert!(!dn("CN=nve1, OU=Corp").matches_der(&two));
        // Types by OID: a dotted OID is the same attribute as its name.
        assert!(dn("2.5.4.3=nve1, OID.2.5.4.10=Corp").matches_der(&two));
        assert!(!dn("CN=nve1, O=Corp").matches_der(&[0x30, 0x03, 0x31]));
    }

    #[test]
    fn values_compare_case_insensitively_with_spaces_compressed() {
        let s = subject(&[
            (
                DnType::CountryName,
                DnValue::PrintableString("CH".try_into().unwrap()),
            ),
            (DnType::OrganizationName, utf8("Big  Corp")),
            (
                DnType::CommonName,
                DnValue::BmpString("nve1".try_into().unwrap()),
            ),
        ]);
        assert!(dn("c=ch,o = big corp ,  CN=NVE1").matches_der(&s));
        assert!(!dn("C=CH, O=BigCorp, CN=nve1").matches_der(&s));
        let e = subject(&[(DnType::CommonName, utf8("café"))]);
        assert!(dn("CN=CAF\\C3\\89").matches_der(&e));
        assert!(dn("CN=Café").matches_der(&e));
    }

    #[test]
    fn multi_valued_rdns_compare_as_sets() {
        assert_eq!(dn("CN=a+O=b, C=x"), dn("O=b + CN=a,C=x"));
        assert_ne!(dn("CN=a+O=b"), dn("CN=a, O=b"));
        assert_ne!(dn("CN=a\\+O=b"), dn("CN=a+O=b"));
        assert_eq!(dn("CN=a\\+O=b").rdns.len(), 1);
        assert_eq!(dn("CN=a\\+O=b").rdns[0].len(), 1);
    }

    #[test]
    fn within_is_an_rdn_prefix() {
        let corp = dn("O=Corp");
        assert!(dn("O=corp, CN=x").within(&corp));
        assert!(dn("O=Corp").within(&corp));
        assert!(!dn("O=Corp2, CN=x").within(&corp));
        assert!(!dn("CN=x, O=Corp").within(&corp));
    }

    #[test]
    fn bad_texts_say_why() {
        for (text, why) in [
            ("", "no attributes"),
            ("CN", "missing '='"),
            ("CN=x,", "empty attribute"),
            ("CN=x,,O=y", "empty attribute"),
            ("XX=1", "unknown attribute name"),
            ("CN=", "empty attribute value"),
            (
                "CN=#0403616263",
                "#hex (BER) attribute values are not supported",
            ),
            ("CN=a\\q", "invalid escape"),
            ("CN=a\\4", "incomplete \\XX escape"),
            ("CN=\\C3", "escaped bytes are not UTF-8"),
        ] {
            assert_eq!(
                RdnSequence::parse(text),
                Err(NameError::BadDn(text.to_string(), why)),
                "{text}"
            );
        }
    }
}
