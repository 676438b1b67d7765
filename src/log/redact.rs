//! Keeping secrets out of logs.

use std::fmt;

/// Wraps a value that must never be logged (keys, PSKs, nonces at level 4).
///
/// `Debug`, `Display` and the slog `Value` all print `<redacted>`, so
/// `info!(log, "loaded"; "psk" => Redacted(&psk))` is safe at every level
/// and in every sink, including JSON and the control socket.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Redacted<T>(pub T);

/// What every redacted value prints as.
pub const REDACTED: &str = "<redacted>";

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> slog::Value for Redacted<T> {
    fn serialize(
        &self,
        _record: &slog::Record<'_>,
        key: slog::Key,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        serializer.emit_str(key, REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_content() {
        let r = Redacted(b"supersecret".to_vec());
        assert_eq!(format!("{r:?} {r}"), "<redacted> <redacted>");
    }
}
