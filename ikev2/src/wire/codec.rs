//! Bounds-checked reader and length-patching writer helpers shared by all payload codecs
//! (the rustls `Reader` idea: every read names what it reads, nothing indexes past the end).

use super::error::Error;

/// A cursor over untrusted bytes; every accessor is checked.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not consumed yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Takes `n` bytes or fails with `Truncated { what }`.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Error> {
        if n > self.remaining() {
            return Err(Error::Truncated {
                what,
                need: n,
                have: self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, Error> {
        Ok(self.take(1, what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, Error> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, Error> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// A sub-reader over the next `n` bytes (a length-prefixed substructure).
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, Error> {
        Ok(Reader::new(self.take(n, what)?))
    }

    /// Fails if bytes remain: substructures must fill their length exactly.
    pub fn finish(&self, what: &'static str) -> Result<(), Error> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(Error::TrailingBytes { what, count }),
        }
    }
}

/// Appends `len` as a big-endian u16, failing when it does not fit.
pub fn put_u16_len(out: &mut Vec<u8>, len: usize, what: &'static str) -> Result<(), Error> {
    let v = u16::try_from(len).map_err(|_| Error::TooLarge { what })?;
    out.extend_from_slice(&v.to_be_bytes());
    Ok(())
}

/// Converts a length to u8, failing when it does not fit (SPI sizes, counts).
pub fn u8_len(len: usize, what: &'static str) -> Result<u8, Error> {
    u8::try_from(len).map_err(|_| Error::TooLarge { what })
}

/// Overwrites the big-endian u16 placeholder at `out[at..at + 2]` with `len`, failing when
/// it does not fit. Used for "length includes header" fields written before their contents.
pub fn patch_u16(out: &mut [u8], at: usize, len: usize, what: &'static str) -> Result<(), Error> {
    let v = u16::try_from(len).map_err(|_| Error::TooLarge { what })?;
    out[at..at + 2].copy_from_slice(&v.to_be_bytes());
    Ok(())
}
