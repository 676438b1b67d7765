//! Pre-shared keys: zeroized on drop, never shown by Debug.

use std::fmt;

use base64::Engine as _;
use zeroize::Zeroizing;

/// Secret bytes (a PSK). Debug prints `Secret(<redacted>)`; the bytes are wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(Zeroizing::new(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// swanctl.conf encodings: `0x` = hex, `0s` = base64, anything else = the string's bytes.
    pub fn parse(text: &str) -> Result<Secret, String> {
        if let Some(hex) = text.strip_prefix("0x") {
            return decode_hex(hex).map(Secret::new);
        }
        if let Some(b64) = text.strip_prefix("0s") {
            return base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map(Secret::new)
                .map_err(|_| "the 0s prefix announces base64, but this is not valid base64; expected 0s followed by base64 text".to_string());
        }
        Ok(Secret::new(text.as_bytes().to_vec()))
    }

    /// The `0x` hex form, which any byte string survives (used when printing with secrets).
    pub fn to_hex(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::from("0x"));
        for b in self.0.iter() {
            s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        s
    }
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = hex.bytes().filter(|b| *b != b':').collect();
    let bad = || {
        "the 0x prefix announces hex, but this is not an even number of hex digits; expected 0x followed by hex digits".to_string()
    };
    if !digits.len().is_multiple_of(2) {
        return Err(bad());
    }
    digits
        .chunks(2)
        .map(|c| {
            let hi = char::from(c[0]).to_digit(16).ok_or_else(bad)?;
            let lo = char::from(c[1]).to_digit(16).ok_or_else(bad)?;
            u8::try_from(hi * 16 + lo).map_err(|_| bad())
        })
        .collect()
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(Secret::parse("0x0102ff").unwrap().expose(), [1, 2, 255]);
        assert_eq!(Secret::parse("0sAQL/").unwrap().expose(), [1, 2, 255]);
        assert_eq!(Secret::parse("abc").unwrap().expose(), b"abc");
        assert!(Secret::parse("0x123").is_err());
        assert!(Secret::parse("0s!!").is_err());
        assert_eq!(&*Secret::new(vec![1, 255]).to_hex(), "0x01ff");
        assert_eq!(
            format!("{:?}", Secret::parse("hunter2").unwrap()),
            "Secret(<redacted>)"
        );
    }
}
