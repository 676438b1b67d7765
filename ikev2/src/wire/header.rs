//! The IKE header (RFC 7296 §3.1), 28 bytes:
//!
//! ```text
//! | IKE SA Initiator's SPI (8) | IKE SA Responder's SPI (8) |
//! | Next Payload (1) | MjVer|MnVer (1) = 0x20 | Exchange Type (1) | Flags (1) |
//! | Message ID (4) | Length (4, whole message including this header) |
//! ```

use super::enums::{ExchangeType, PayloadType};
use super::error::Error;

/// Size of the IKE header.
pub const HEADER_LEN: usize = 28;
/// The version octet we send: major 2, minor 0 (RFC 7296 §3.1).
pub const VERSION_2_0: u8 = 0x20;

/// Byte ranges of the header fields.
mod field {
    use core::ops::Range;
    pub const SPI_I: Range<usize> = 0..8;
    pub const SPI_R: Range<usize> = 8..16;
    pub const NEXT_PAYLOAD: usize = 16;
    pub const VERSION: usize = 17;
    pub const EXCHANGE: usize = 18;
    pub const FLAGS: usize = 19;
    pub const MESSAGE_ID: Range<usize> = 20..24;
    pub const LENGTH: Range<usize> = 24..28;
}

/// Header flags `X X R V I X X X` (RFC 7296 §3.1). The X bits are dropped on parse.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// Set by the original initiator of the IKE SA (after a rekey: who initiated the rekey).
    pub const INITIATOR: Flags = Flags(0x08);
    /// "I could speak a higher major version".
    pub const VERSION: Flags = Flags(0x10);
    /// The message is a response.
    pub const RESPONSE: Flags = Flags(0x20);
    /// The bits RFC 7296 defines; the others are sent 0 and ignored.
    const DEFINED: u8 = 0x38;

    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn is_initiator(self) -> bool {
        self.contains(Self::INITIATOR)
    }
    pub fn is_response(self) -> bool {
        self.contains(Self::RESPONSE)
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl core::fmt::Debug for Flags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let names = [
            (Self::INITIATOR, "I"),
            (Self::VERSION, "V"),
            (Self::RESPONSE, "R"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(fl, _)| self.contains(*fl))
            .map(|(_, n)| *n)
            .collect();
        write!(f, "Flags({})", set.join("|"))
    }
}

/// Checked view over the first 28 bytes of a datagram (smoltcp style).
#[derive(Debug, Clone)]
pub struct HeaderView<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> HeaderView<T> {
    /// Wraps `buffer` after checking it holds a whole header. Use this on untrusted input.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let have = buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(Error::Truncated {
                what: "IKE header",
                need: HEADER_LEN,
                have,
            });
        }
        Ok(Self { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    fn u64_at(&self, r: core::ops::Range<usize>) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&self.b()[r]);
        u64::from_be_bytes(a)
    }
    fn u32_at(&self, r: core::ops::Range<usize>) -> u32 {
        let mut a = [0u8; 4];
        a.copy_from_slice(&self.b()[r]);
        u32::from_be_bytes(a)
    }

    pub fn spi_i(&self) -> u64 {
        self.u64_at(field::SPI_I)
    }
    pub fn spi_r(&self) -> u64 {
        self.u64_at(field::SPI_R)
    }
    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.b()[field::NEXT_PAYLOAD])
    }
    pub fn version(&self) -> u8 {
        self.b()[field::VERSION]
    }
    pub fn major_version(&self) -> u8 {
        self.version() >> 4
    }
    pub fn exchange_type(&self) -> ExchangeType {
        ExchangeType(self.b()[field::EXCHANGE])
    }
    /// Flags with the undefined X bits cleared.
    pub fn flags(&self) -> Flags {
        Flags(self.b()[field::FLAGS] & Flags::DEFINED)
    }
    pub fn message_id(&self) -> u32 {
        self.u32_at(field::MESSAGE_ID)
    }
    pub fn length(&self) -> u32 {
        self.u32_at(field::LENGTH)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> HeaderView<T> {
    /// Rewrites the Length field (after appending payloads).
    pub fn set_length(&mut self, len: u32) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    }
    /// Rewrites the Next Payload field.
    pub fn set_next_payload(&mut self, ty: PayloadType) {
        self.buffer.as_mut()[field::NEXT_PAYLOAD] = ty.0;
    }
}

/// The header fields a sender chooses. Next Payload and Length are derived from the payloads
/// by the builder ([`crate::wire::Message::to_bytes`]) and read through [`HeaderView`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IkeHeader {
    pub spi_i: u64,
    pub spi_r: u64,
    pub exchange: ExchangeType,
    pub flags: Flags,
    pub message_id: u32,
}

impl IkeHeader {
    /// Parses the first 28 bytes (phase one of decoding: enough to route by SPI and check the
    /// message ID before touching payloads). Refuses a major version other than 2; the minor
    /// version is ignored (RFC 7296 §2.5).
    pub fn parse(datagram: &[u8]) -> Result<Self, Error> {
        let v = HeaderView::new_checked(datagram)?;
        if v.major_version() != 2 {
            return Err(Error::UnsupportedMajorVersion(v.major_version()));
        }
        Ok(Self {
            spi_i: v.spi_i(),
            spi_r: v.spi_r(),
            exchange: v.exchange_type(),
            flags: v.flags(),
            message_id: v.message_id(),
        })
    }

    /// Appends the 28 header bytes with the given Next Payload and total Length.
    pub fn emit(&self, next: PayloadType, length: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.spi_i.to_be_bytes());
        out.extend_from_slice(&self.spi_r.to_be_bytes());
        out.extend_from_slice(&[next.0, VERSION_2_0, self.exchange.0, self.flags.0]);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&length.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // IKE_SA_INIT request, SPIi 0x0102030405060708, SPIr 0, next SA, I flag, msg-id 0, len 256.
    const HDR: [u8; 28] = [
        1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0x21, 0x20, 0x22, 0x08, 0, 0, 0, 0, 0, 0,
        1, 0,
    ];

    #[test]
    fn deconstruct() {
        let v = HeaderView::new_checked(&HDR[..]).unwrap();
        assert_eq!(v.spi_i(), 0x0102030405060708);
        assert_eq!(v.spi_r(), 0);
        assert_eq!(v.next_payload(), PayloadType::SA);
        assert_eq!(v.exchange_type(), ExchangeType::IKE_SA_INIT);
        assert!(v.flags().is_initiator() && !v.flags().is_response());
        assert_eq!(v.length(), 256);
    }

    #[test]
    fn construct() {
        let h = IkeHeader::parse(&HDR).unwrap();
        let mut out = Vec::new();
        h.emit(PayloadType::SA, 256, &mut out);
        assert_eq!(out, HDR);
    }

    #[test]
    fn check_len_and_version() {
        assert!(matches!(
            HeaderView::new_checked(&HDR[..27]),
            Err(Error::Truncated {
                need: 28,
                have: 27,
                ..
            })
        ));
        let mut v3 = HDR;
        v3[17] = 0x30;
        assert_eq!(
            IkeHeader::parse(&v3),
            Err(Error::UnsupportedMajorVersion(3))
        );
        let mut x = HDR;
        x[19] = 0xff;
        assert_eq!(IkeHeader::parse(&x).unwrap().flags, Flags(0x38));
    }
}
