//! Key derivation: SKEYSEED and the seven SK_* keys (RFC 7296 §2.14), IKE SA rekey (§2.18) and
//! Child/GSA KEYMAT (§2.17, DESIGN.md "GSA negotiation").

use std::fmt;

use super::sk::{SkKey, SkSuite, SALT_LEN};
use super::{CryptoError, Prf, Secret};

/// `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}` as cut from prf+, before they are
/// turned into cipher keys. With an AEAD (our only case) SK_ai and SK_ar are empty.
#[derive(Debug, Clone)]
pub struct SkKeyMaterial {
    pub sk_d: Secret,
    pub sk_ai: Secret,
    pub sk_ar: Secret,
    pub sk_ei: Secret,
    pub sk_er: Secret,
    pub sk_pi: Secret,
    pub sk_pr: Secret,
}

impl SkKeyMaterial {
    /// `prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)`, cut in order: SK_d, SK_pi, SK_pr get the PRF key
    /// length, SK_a* `integ_len` (0 for AEAD), SK_e* `encr_len` (AES-GCM: key + 4 salt octets).
    #[allow(clippy::too_many_arguments)]
    pub fn derive(
        prf: Prf,
        skeyseed: &Secret,
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
        integ_len: usize,
        encr_len: usize,
    ) -> Result<Self, CryptoError> {
        let p = prf.key_len();
        let lens = [p, integ_len, integ_len, encr_len, encr_len, p, p];
        let total = lens.iter().sum();
        let (si, sr) = (spi_i.to_be_bytes(), spi_r.to_be_bytes());
        let stream = prf.prf_plus(skeyseed.expose(), &[ni, nr, &si, &sr], total)?;
        let mut parts = cut(stream.expose(), &lens).into_iter();
        let mut next = || parts.next().unwrap_or_default();
        Ok(Self {
            sk_d: next(),
            sk_ai: next(),
            sk_ar: next(),
            sk_ei: next(),
            sk_er: next(),
            sk_pi: next(),
            sk_pr: next(),
        })
    }
}

/// Cuts `stream` into consecutive pieces of `lens` (keys ignore prf block boundaries, §2.13).
fn cut(stream: &[u8], lens: &[usize]) -> Vec<Secret> {
    let mut at = 0;
    lens.iter()
        .map(|&n| {
            let s = Secret::from_slice(&stream[at..at + n]);
            at += n;
            s
        })
        .collect()
}

/// The keys of one IKE SA: PRF, SK_d, SK_pi/SK_pr and the two SK payload keys.
///
/// "i" and "r" always refer to the *original* initiator and responder of this IKE SA (for a
/// rekeyed SA: of the CREATE_CHILD_SA exchange that created it), not to who sends a message.
#[derive(Clone)]
pub struct IkeSaKeys {
    prf: Prf,
    suite: SkSuite,
    sk_d: Secret,
    sk_ei: SkKey,
    sk_er: SkKey,
    sk_pi: Secret,
    sk_pr: Secret,
}

impl fmt::Debug for IkeSaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IkeSaKeys")
            .field("prf", &self.prf)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl IkeSaKeys {
    /// Keys of a new IKE SA after IKE_SA_INIT: `SKEYSEED = prf(Ni | Nr, g^ir)` (§2.14).
    pub fn derive(
        prf: Prf,
        suite: SkSuite,
        g_ir: &Secret,
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<Self, CryptoError> {
        let skeyseed = prf.skeyseed(ni, nr, g_ir);
        Self::from_skeyseed(prf, suite, &skeyseed, ni, nr, spi_i, spi_r)
    }

    /// Keys of the IKE SA that replaces `self` in a CREATE_CHILD_SA rekey (§2.18):
    /// `SKEYSEED = prf_old(SK_d_old, g^ir(new) | Ni | Nr)`, then the seven keys with the *new*
    /// PRF, the nonces of the rekey exchange and the new SPIs (SPIi = the SPI of the rekey
    /// exchange's initiator).
    #[allow(clippy::too_many_arguments)]
    pub fn derive_rekey(
        &self,
        prf: Prf,
        suite: SkSuite,
        g_ir: &Secret,
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<Self, CryptoError> {
        let skeyseed = self.rekey_skeyseed(g_ir, ni, nr);
        Self::from_skeyseed(prf, suite, &skeyseed, ni, nr, spi_i, spi_r)
    }

    /// `prf(SK_d (old), g^ir (new) | Ni | Nr)` with the old PRF (§2.18).
    pub fn rekey_skeyseed(&self, g_ir: &Secret, ni: &[u8], nr: &[u8]) -> Secret {
        self.prf.prf(self.sk_d.expose(), &[g_ir.expose(), ni, nr])
    }

    /// The seven keys from a given SKEYSEED.
    pub fn from_skeyseed(
        prf: Prf,
        suite: SkSuite,
        skeyseed: &Secret,
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<Self, CryptoError> {
        let m = SkKeyMaterial::derive(prf, skeyseed, ni, nr, spi_i, spi_r, 0, suite.keymat_len())?;
        Ok(Self {
            prf,
            suite,
            sk_ei: SkKey::new(suite, m.sk_ei.expose())?,
            sk_er: SkKey::new(suite, m.sk_er.expose())?,
            sk_d: m.sk_d,
            sk_pi: m.sk_pi,
            sk_pr: m.sk_pr,
        })
    }

    pub fn prf(&self) -> Prf {
        self.prf
    }

    pub fn suite(&self) -> SkSuite {
        self.suite
    }

    pub fn sk_d(&self) -> &Secret {
        &self.sk_d
    }

    pub fn sk_pi(&self) -> &Secret {
        &self.sk_pi
    }

    pub fn sk_pr(&self) -> &Secret {
        &self.sk_pr
    }

    /// Protects messages sent by the original initiator.
    pub fn sk_ei(&self) -> &SkKey {
        &self.sk_ei
    }

    /// Protects messages sent by the original responder.
    pub fn sk_er(&self) -> &SkKey {
        &self.sk_er
    }

    /// The key we seal with: SK_ei if we are the SA's original initiator, else SK_er.
    pub fn outbound(&self, original_initiator: bool) -> &SkKey {
        if original_initiator {
            &self.sk_ei
        } else {
            &self.sk_er
        }
    }

    /// The key we open the peer's messages with.
    pub fn inbound(&self, original_initiator: bool) -> &SkKey {
        self.outbound(!original_initiator)
    }

    /// `KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr)` split per §2.17: initiator-to-responder
    /// keys first. `ni`/`nr` are the IKE_SA_INIT nonces for the SA created in IKE_AUTH, the
    /// CREATE_CHILD_SA nonces otherwise; "initiator" is the initiator of *that* exchange.
    pub fn child_keys(
        &self,
        pfs_g_ir: Option<&Secret>,
        ni: &[u8],
        nr: &[u8],
        spec: ChildKeySpec,
    ) -> Result<ChildKeys, CryptoError> {
        let g = pfs_g_ir.map_or(&[][..], Secret::expose);
        let stream = self
            .prf
            .prf_plus(self.sk_d.expose(), &[g, ni, nr], spec.total_len())?;
        let lens = [spec.encr_len, spec.integ_len, spec.encr_len, spec.integ_len];
        let mut parts = cut(stream.expose(), &lens).into_iter();
        let mut next = || parts.next().unwrap_or_default();
        Ok(ChildKeys {
            initiator_to_responder: DirectionKeys {
                encr: next(),
                integ: next(),
            },
            responder_to_initiator: DirectionKeys {
                encr: next(),
                integ: next(),
            },
        })
    }
}

/// How many KEYMAT bytes one direction of a Child SA / GSA takes: the encryption key first
/// (including any salt), then the integrity key (RFC 7296 §2.17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChildKeySpec {
    pub encr_len: usize,
    pub integ_len: usize,
}

impl ChildKeySpec {
    /// AES-GCM or AES-GMAC (ESP, GEO, GAO-GMAC): AES key || 4-byte salt (RFC 4106 §8.1,
    /// RFC 4543 §8), no integrity key.
    pub const fn aes_with_salt(key_bits: u16) -> Self {
        Self {
            encr_len: key_bits as usize / 8 + SALT_LEN,
            integ_len: 0,
        }
    }

    /// Both directions.
    pub const fn total_len(self) -> usize {
        2 * (self.encr_len + self.integ_len)
    }
}

/// The GSA protection suites of DESIGN.md, for their KEYMAT sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GsaSuite {
    /// GEO: ENCR_AES_GCM_16 (20), Key Length 128.
    GeoAesGcm128,
    /// GEO: ENCR_AES_GCM_16 (20), Key Length 256.
    GeoAesGcm256,
    /// GAO: ENCR_NULL_AUTH_AES_GMAC (21), Key Length 128.
    GaoGmac128,
    /// GAO: ENCR_NULL_AUTH_AES_GMAC (21), Key Length 256.
    GaoGmac256,
    /// Draft-literal GAO: AUTH_HMAC_SHA2_256_128 (12), 32-byte key (RFC 4868 §2.1.1).
    GaoHmacSha256_128,
}

impl GsaSuite {
    pub const fn key_spec(self) -> ChildKeySpec {
        match self {
            Self::GeoAesGcm128 | Self::GaoGmac128 => ChildKeySpec::aes_with_salt(128),
            Self::GeoAesGcm256 | Self::GaoGmac256 => ChildKeySpec::aes_with_salt(256),
            Self::GaoHmacSha256_128 => ChildKeySpec {
                encr_len: 0,
                integ_len: 32,
            },
        }
    }
}

/// The keys protecting one direction of a Child SA / GSA.
#[derive(Debug, Clone)]
pub struct DirectionKeys {
    /// Encryption (or GMAC) key including its salt; empty for HMAC-only GAO.
    pub encr: Secret,
    /// Integrity key; empty for AEAD / GMAC suites.
    pub integ: Secret,
}

impl DirectionKeys {
    /// Splits an AES-GCM/GMAC slice into (AES key, 4-byte salt); `None` if too short.
    pub fn aes_key_and_salt(&self) -> Option<(&[u8], &[u8])> {
        let k = self.encr.expose();
        (k.len() > SALT_LEN).then(|| k.split_at(k.len() - SALT_LEN))
    }
}

/// KEYMAT of a Child SA / GSA, split by direction.
#[derive(Debug, Clone)]
pub struct ChildKeys {
    pub initiator_to_responder: DirectionKeys,
    pub responder_to_initiator: DirectionKeys,
}

impl ChildKeys {
    /// Keys for what we send; `exchange_initiator` = we initiated the exchange that created
    /// the SA (IKE_AUTH or CREATE_CHILD_SA).
    pub fn outbound(&self, exchange_initiator: bool) -> &DirectionKeys {
        if exchange_initiator {
            &self.initiator_to_responder
        } else {
            &self.responder_to_initiator
        }
    }

    /// Keys for what we receive.
    pub fn inbound(&self, exchange_initiator: bool) -> &DirectionKeys {
        self.outbound(!exchange_initiator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::prf::prf_plus_reference;

    fn g() -> Secret {
        Secret::from_slice(&[0x33; 32])
    }

    #[test]
    fn seven_keys_cut_in_rfc_order() {
        let (ni, nr) = ([1u8; 32], [2u8; 32]);
        let keys = IkeSaKeys::derive(
            Prf::HmacSha256,
            SkSuite::AesGcm16_256,
            &g(),
            &ni,
            &nr,
            0x11,
            0x22,
        )
        .unwrap();
        // spec-facts §3.9 worked size: 32 + 0 + 0 + 36 + 36 + 32 + 32 = 168.
        let skeyseed = Prf::HmacSha256.prf(&[ni, nr].concat(), &[g().expose()]);
        let seed = [
            &ni[..],
            &nr[..],
            &0x11u64.to_be_bytes()[..],
            &0x22u64.to_be_bytes()[..],
        ]
        .concat();
        let s = prf_plus_reference(Prf::HmacSha256, skeyseed.expose(), &seed, 168).unwrap();
        assert_eq!(keys.sk_d().expose(), &s[0..32]);
        assert_eq!(keys.sk_ei().keymat().expose(), &s[32..68]);
        assert_eq!(keys.sk_er().keymat().expose(), &s[68..104]);
        assert_eq!(keys.sk_pi().expose(), &s[104..136]);
        assert_eq!(keys.sk_pr().expose(), &s[136..168]);
    }

    #[test]
    fn integ_keys_take_their_place_when_present() {
        let m = SkKeyMaterial::derive(Prf::HmacSha384, &g(), b"n", b"m", 1, 2, 48, 16).unwrap();
        let lens: Vec<usize> = [
            &m.sk_d, &m.sk_ai, &m.sk_ar, &m.sk_ei, &m.sk_er, &m.sk_pi, &m.sk_pr,
        ]
        .iter()
        .map(|s| s.len())
        .collect();
        assert_eq!(lens, [48, 48, 48, 16, 16, 48, 48]);
        let s = prf_plus_reference(
            Prf::HmacSha384,
            g().expose(),
            &[b"nm".as_slice(), &1u64.to_be_bytes(), &2u64.to_be_bytes()].concat(),
            272,
        )
        .unwrap();
        assert_eq!(m.sk_ar.expose(), &s[96..144]);
        assert_eq!(m.sk_pr.expose(), &s[224..272]);
    }

    #[test]
    fn rekey_uses_old_sk_d_and_old_prf() {
        let old = IkeSaKeys::derive(
            Prf::HmacSha256,
            SkSuite::AesGcm16_128,
            &g(),
            b"ni",
            b"nr",
            1,
            2,
        )
        .unwrap();
        let g2 = Secret::from_slice(&[0x44; 32]);
        let new = old
            .derive_rekey(
                Prf::HmacSha384,
                SkSuite::AesGcm16_256,
                &g2,
                b"NI",
                b"NR",
                3,
                4,
            )
            .unwrap();
        let seed = Prf::HmacSha256.prf(old.sk_d().expose(), &[g2.expose(), b"NI", b"NR"]);
        assert_eq!(seed.len(), 32, "old PRF");
        let expect = IkeSaKeys::from_skeyseed(
            Prf::HmacSha384,
            SkSuite::AesGcm16_256,
            &seed,
            b"NI",
            b"NR",
            3,
            4,
        )
        .unwrap();
        assert_eq!(new.sk_d().expose(), expect.sk_d().expose());
        assert_eq!(new.sk_d().len(), 48);
        assert_eq!(new.sk_er().keymat().len(), 36);
        assert!(!new.sk_d().ct_eq(old.sk_d().expose()));
    }

    #[test]
    fn child_keymat_order_and_pfs() {
        let ike = IkeSaKeys::derive(
            Prf::HmacSha256,
            SkSuite::AesGcm16_256,
            &g(),
            b"a",
            b"b",
            1,
            2,
        )
        .unwrap();
        let spec = GsaSuite::GeoAesGcm256.key_spec();
        assert_eq!(spec.total_len(), 72);
        let ck = ike.child_keys(None, b"ni", b"nr", spec).unwrap();
        let s = prf_plus_reference(Prf::HmacSha256, ike.sk_d().expose(), b"ninr", 72).unwrap();
        assert_eq!(ck.initiator_to_responder.encr.expose(), &s[..36]);
        assert_eq!(ck.responder_to_initiator.encr.expose(), &s[36..]);
        let (key, salt) = ck.outbound(true).aes_key_and_salt().unwrap();
        assert_eq!((key, salt), (&s[..32], &s[32..36]));
        assert_eq!(ck.inbound(true).encr.expose(), &s[36..]);

        let pfs = Secret::from_slice(&[5; 32]);
        let ck2 = ike.child_keys(Some(&pfs), b"ni", b"nr", spec).unwrap();
        let s2 = prf_plus_reference(
            Prf::HmacSha256,
            ike.sk_d().expose(),
            &[&[5u8; 32][..], b"ninr"].concat(),
            72,
        )
        .unwrap();
        assert_eq!(ck2.initiator_to_responder.encr.expose(), &s2[..36]);

        let hm = ike
            .child_keys(None, b"ni", b"nr", GsaSuite::GaoHmacSha256_128.key_spec())
            .unwrap();
        assert_eq!(hm.initiator_to_responder.integ.expose(), &s[..32]);
        assert_eq!(hm.responder_to_initiator.integ.expose(), &s[32..64]);
        assert!(hm.initiator_to_responder.encr.is_empty());
        assert_eq!(hm.initiator_to_responder.aes_key_and_salt(), None);
    }

    #[test]
    fn directions_pick_the_right_sk_e() {
        let k = IkeSaKeys::derive(
            Prf::HmacSha256,
            SkSuite::AesGcm16_128,
            &g(),
            b"a",
            b"b",
            1,
            2,
        )
        .unwrap();
        assert!(k.outbound(true).keymat().ct_eq(k.sk_ei().keymat().expose()));
        assert!(k.inbound(true).keymat().ct_eq(k.sk_er().keymat().expose()));
        assert!(k
            .outbound(false)
            .keymat()
            .ct_eq(k.sk_er().keymat().expose()));
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        let k = IkeSaKeys::derive(
            Prf::HmacSha256,
            SkSuite::AesGcm16_128,
            &g(),
            b"a",
            b"b",
            1,
            2,
        )
        .unwrap();
        assert_eq!(
            format!("{k:?}"),
            "IkeSaKeys { prf: HmacSha256, suite: AesGcm16_128, .. }"
        );
        let ck = k
            .child_keys(None, b"", b"", ChildKeySpec::aes_with_salt(128))
            .unwrap();
        let d = format!("{ck:?}");
        assert!(d.contains("encr: Secret(<20 bytes redacted>)"), "{d}");
        assert!(d.contains("integ: Secret(<0 bytes redacted>)"), "{d}");
    }
}
