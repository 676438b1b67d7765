//! Diffie-Hellman for the KE payload (RFC 7296 §3.4). Only group 31, Curve25519 (RFC 8031), is
//! implemented; [`DhGroup`] and [`DhPrivate`] are enums so more groups slot in later.

use std::fmt;

use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::{CryptoError, Secret};

/// A D-H group (transform type 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// Group 31, X25519 (RFC 8031).
    Curve25519,
}

impl DhGroup {
    /// Transform ID of group 31 (IANA "Transform Type 4").
    pub const CURVE25519_ID: u16 = 31;

    /// From the transform ID; unknown groups are refused (the caller answers
    /// INVALID_KE_PAYLOAD or NO_PROPOSAL_CHOSEN).
    pub fn from_id(id: u16) -> Result<Self, CryptoError> {
        match id {
            Self::CURVE25519_ID => Ok(Self::Curve25519),
            other => Err(CryptoError::UnsupportedGroup(other)),
        }
    }

    pub const fn id(self) -> u16 {
        match self {
            Self::Curve25519 => Self::CURVE25519_ID,
        }
    }

    /// Length of the Key Exchange Data (RFC 8031 §3.1: 32 bytes, so KE payload length 40).
    pub const fn public_len(self) -> usize {
        match self {
            Self::Curve25519 => 32,
        }
    }

    /// Length of the private value [`DhPrivate::from_bytes`] takes.
    pub const fn private_len(self) -> usize {
        match self {
            Self::Curve25519 => 32,
        }
    }
}

enum Inner {
    /// `StaticSecret`, not `EphemeralSecret`: the value must outlive the request (it is used
    /// when the response arrives, and again if the exchange is retried). It zeroizes on drop.
    Curve25519(x25519_dalek::StaticSecret),
}

/// Our private D-H value for one exchange. Zeroized on drop, redacted in `Debug`.
pub struct DhPrivate(Inner);

impl fmt::Debug for DhPrivate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DhPrivate({:?}, <redacted>)", self.group())
    }
}

impl DhPrivate {
    /// A fresh private value from `rng` (the engine's seeded CSPRNG, so tests are deterministic).
    pub fn generate<R: RngCore + CryptoRng>(group: DhGroup, rng: &mut R) -> Self {
        match group {
            DhGroup::Curve25519 => {
                let mut b = Zeroizing::new([0u8; 32]);
                rng.fill_bytes(&mut b[..]);
                Self(Inner::Curve25519(x25519_dalek::StaticSecret::from(*b)))
            }
        }
    }

    /// From raw private bytes (RFC 7748 scalar; clamping is done by X25519 itself).
    pub fn from_bytes(group: DhGroup, private: &[u8]) -> Result<Self, CryptoError> {
        match group {
            DhGroup::Curve25519 => {
                let b: Zeroizing<[u8; 32]> = Zeroizing::new(private.try_into().map_err(|_| {
                    CryptoError::BadPrivateValue {
                        expected: 32,
                        got: private.len(),
                    }
                })?);
                Ok(Self(Inner::Curve25519(x25519_dalek::StaticSecret::from(
                    *b,
                ))))
            }
        }
    }

    pub fn group(&self) -> DhGroup {
        match self.0 {
            Inner::Curve25519(_) => DhGroup::Curve25519,
        }
    }

    /// The Key Exchange Data of our KE payload: X25519(d, 9), 32 bytes little-endian
    /// (RFC 8031 §3.1).
    pub fn public_value(&self) -> Vec<u8> {
        match &self.0 {
            Inner::Curve25519(s) => x25519_dalek::PublicKey::from(s).as_bytes().to_vec(),
        }
    }

    /// g^ir from the peer's Key Exchange Data.
    ///
    /// X25519 masks the top bit of the peer value and accepts non-canonical encodings, as
    /// RFC 8031 §3.2 requires. An all-zero result (the peer sent a small-order point) is
    /// refused, as RFC 7748 §6.1 recommends: it would make every key predictable.
    pub fn shared_secret(&self, peer_public: &[u8]) -> Result<Secret, CryptoError> {
        match &self.0 {
            Inner::Curve25519(s) => {
                let p: [u8; 32] =
                    peer_public
                        .try_into()
                        .map_err(|_| CryptoError::BadPublicValue {
                            expected: 32,
                            got: peer_public.len(),
                        })?;
                let shared = s.diffie_hellman(&x25519_dalek::PublicKey::from(p));
                if !shared.was_contributory() {
                    return Err(CryptoError::ZeroSharedSecret);
                }
                Ok(Secret::from_slice(shared.as_bytes()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn group_ids() {
        assert_eq!(DhGroup::from_id(31), Ok(DhGroup::Curve25519));
        assert_eq!(DhGroup::Curve25519.id(), 31);
        assert_eq!(DhGroup::from_id(14), Err(CryptoError::UnsupportedGroup(14)));
        assert_eq!(DhGroup::Curve25519.public_len(), 32);
    }

    #[test]
    fn two_sides_agree_and_differ_per_key() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let a = DhPrivate::generate(DhGroup::Curve25519, &mut rng);
        let b = DhPrivate::generate(DhGroup::Curve25519, &mut rng);
        let ab = a.shared_secret(&b.public_value()).unwrap();
        let ba = b.shared_secret(&a.public_value()).unwrap();
        assert_eq!(ab.expose(), ba.expose());
        assert_ne!(a.public_value(), b.public_value());
        assert_eq!(a.public_value().len(), 32);
    }

    #[test]
    fn refuses_wrong_lengths_and_small_order_points() {
        let a = DhPrivate::from_bytes(DhGroup::Curve25519, &[1; 32]).unwrap();
        assert_eq!(
            a.shared_secret(&[9; 31]).unwrap_err(),
            CryptoError::BadPublicValue {
                expected: 32,
                got: 31
            }
        );
        // u = 0 and u = 1 are small-order points: X25519 yields all zeros.
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(
            a.shared_secret(&[0; 32]).unwrap_err(),
            CryptoError::ZeroSharedSecret
        );
        assert_eq!(
            a.shared_secret(&one).unwrap_err(),
            CryptoError::ZeroSharedSecret
        );
        assert!(DhPrivate::from_bytes(DhGroup::Curve25519, &[1; 33]).is_err());
    }

    #[test]
    fn top_bit_of_peer_value_is_masked() {
        // RFC 8031 §3.2 / RFC 7748 §5: the high bit of the u-coordinate is ignored.
        let a = DhPrivate::from_bytes(DhGroup::Curve25519, &[3; 32]).unwrap();
        let b = DhPrivate::from_bytes(DhGroup::Curve25519, &[4; 32]).unwrap();
        let mut pb = b.public_value();
        let plain = a.shared_secret(&pb).unwrap();
        pb[31] |= 0x80;
        assert_eq!(a.shared_secret(&pb).unwrap().expose(), plain.expose());
    }

    #[test]
    fn debug_hides_private_value() {
        let a = DhPrivate::from_bytes(DhGroup::Curve25519, &[0x42; 32]).unwrap();
        assert_eq!(format!("{a:?}"), "DhPrivate(Curve25519, <redacted>)");
    }
}
