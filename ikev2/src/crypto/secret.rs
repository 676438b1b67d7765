//! Secret byte strings: zeroized on drop, never printed.

use std::fmt;

use zeroize::Zeroizing;

/// Key material (g^ir, SKEYSEED, SK_*, KEYMAT slices, PSK-derived keys).
///
/// Zeroized on drop; `Debug` shows only the length. There is deliberately no `PartialEq`:
/// comparing secrets must be constant-time ([`Secret::ct_eq`]).
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Takes ownership of `bytes` (the vector is zeroized when the `Secret` drops).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// The secret bytes. Named `expose` so every use is easy to audit.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time equality (lengths are not secret).
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        ct_eq(&self.0, other)
    }
}

/// Constant-time comparison of two byte strings of public length.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new(vec![0xab; 5]);
        let d = format!("{s:?}");
        assert_eq!(d, "Secret(<5 bytes redacted>)");
        assert!(!d.contains("ab") && !d.contains("171"));
    }

    #[test]
    fn ct_eq_compares_content_and_length() {
        let s = Secret::from_slice(b"abc");
        assert!(s.ct_eq(b"abc"));
        assert!(!s.ct_eq(b"abd"));
        assert!(!s.ct_eq(b"ab"));
    }
}
