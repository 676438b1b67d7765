//! Open wire enums (RFC 7296 §3, IANA "IKEv2 Parameters").
//!
//! Every code point is a newtype over its wire integer with associated consts, so values we do
//! not know (private use, newer RFCs) are representable and round-trip unchanged; `Debug` prints
//! the name when known and the number otherwise.

/// Declares `pub struct $name(pub $repr)` with named associated consts, `name()`, `Debug` and
/// conversions to and from the wire integer.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident($repr:ty) { $($(#[$cmeta:meta])* $const:ident = $val:expr,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $repr);

        impl $name {
            $($(#[$cmeta])* pub const $const: Self = Self($val);)*

            /// The registry name of this value, if it is one we know.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some(stringify!($const)),)*
                    _ => None,
                }
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Debug::fmt(self, f)
            }
        }

        impl From<$repr> for $name {
            fn from(v: $repr) -> Self {
                Self(v)
            }
        }

        impl From<$name> for $repr {
            fn from(v: $name) -> Self {
                v.0
            }
        }
    };
}

wire_enum! {
    /// Exchange type, IKE header octet 18 (RFC 7296 §3.1). 240-255 are private use.
    ExchangeType(u8) {
        IKE_SA_INIT = 34,
        IKE_AUTH = 35,
        CREATE_CHILD_SA = 36,
        INFORMATIONAL = 37,
        IKE_SESSION_RESUME = 38,
        IKE_INTERMEDIATE = 43,
        IKE_FOLLOWUP_KE = 44,
    }
}

wire_enum! {
    /// Payload type, the "Next Payload" field (RFC 7296 §3.2, RFC 7383). 128-255 private use.
    PayloadType(u8) {
        /// End of the payload chain.
        NONE = 0,
        SA = 33,
        KE = 34,
        IDI = 35,
        IDR = 36,
        CERT = 37,
        CERTREQ = 38,
        AUTH = 39,
        NONCE = 40,
        NOTIFY = 41,
        DELETE = 42,
        VENDOR_ID = 43,
        TSI = 44,
        TSR = 45,
        SK = 46,
        CP = 47,
        EAP = 48,
        GSPM = 49,
        IDG = 50,
        /// G-IKEv2 "Group SA": unrelated to nvesec's GSA (Geneve SA).
        GIKE_GSA = 51,
        KD = 52,
        SKF = 53,
    }
}

wire_enum! {
    /// Notify message type (RFC 7296 §3.10.1). Below 16384 errors, from 16384 status;
    /// 8192-16383 and 40960-65535 private use.
    NotifyType(u16) {
        UNSUPPORTED_CRITICAL_PAYLOAD = 1,
        INVALID_IKE_SPI = 4,
        INVALID_MAJOR_VERSION = 5,
        INVALID_SYNTAX = 7,
        INVALID_MESSAGE_ID = 9,
        INVALID_SPI = 11,
        NO_PROPOSAL_CHOSEN = 14,
        INVALID_KE_PAYLOAD = 17,
        AUTHENTICATION_FAILED = 24,
        SINGLE_PAIR_REQUIRED = 34,
        NO_ADDITIONAL_SAS = 35,
        INTERNAL_ADDRESS_FAILURE = 36,
        FAILED_CP_REQUIRED = 37,
        TS_UNACCEPTABLE = 38,
        INVALID_SELECTORS = 39,
        TEMPORARY_FAILURE = 43,
        CHILD_SA_NOT_FOUND = 44,
        INITIAL_CONTACT = 16384,
        SET_WINDOW_SIZE = 16385,
        ADDITIONAL_TS_POSSIBLE = 16386,
        IPCOMP_SUPPORTED = 16387,
        NAT_DETECTION_SOURCE_IP = 16388,
        NAT_DETECTION_DESTINATION_IP = 16389,
        COOKIE = 16390,
        USE_TRANSPORT_MODE = 16391,
        HTTP_CERT_LOOKUP_SUPPORTED = 16392,
        REKEY_SA = 16393,
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
        NON_FIRST_FRAGMENTS_ALSO = 16395,
        MOBIKE_SUPPORTED = 16396,
        MULTIPLE_AUTH_SUPPORTED = 16404,
        REDIRECT_SUPPORTED = 16406,
        EAP_ONLY_AUTHENTICATION = 16417,
        CHILDLESS_IKEV2_SUPPORTED = 16418,
        IKEV2_MESSAGE_ID_SYNC_SUPPORTED = 16420,
        IKEV2_FRAGMENTATION_SUPPORTED = 16430,
        SIGNATURE_HASH_ALGORITHMS = 16431,
        USE_PPK = 16435,
        INTERMEDIATE_EXCHANGE_SUPPORTED = 16438,
        ADDITIONAL_KEY_EXCHANGE = 16441,
    }
}

impl NotifyType {
    /// Error types are 0..16383 (RFC 7296 §3.10.1).
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }
}

wire_enum! {
    /// Security Protocol ID of proposals, notifies and deletes (RFC 7296 §3.3.1).
    /// 201-255 private use; nvesec uses 201 for GSAs (DESIGN.md "GSA negotiation").
    ProtocolId(u8) {
        /// Sent in IKE-SA-level notifies (SPI size 0).
        NONE = 0,
        IKE = 1,
        AH = 2,
        ESP = 3,
        /// nvesec Geneve SA; SPI size 4, the SPI is the 32-bit GSA-ID the proposer receives on.
        GSA = 201,
    }
}

wire_enum! {
    /// Transform type (RFC 7296 §3.3.2). 241-255 private use.
    TransformType(u8) {
        ENCR = 1,
        PRF = 2,
        INTEG = 3,
        DH = 4,
        ESN = 5,
    }
}

wire_enum! {
    /// Transform IDs of type 1 ENCR (RFC 7296 §3.3.2, RFC 5282, RFC 4543). 1024+ private.
    EncrId(u16) {
        ENCR_NULL = 11,
        ENCR_AES_CBC = 12,
        ENCR_AES_CTR = 13,
        ENCR_AES_GCM_8 = 18,
        ENCR_AES_GCM_12 = 19,
        ENCR_AES_GCM_16 = 20,
        ENCR_NULL_AUTH_AES_GMAC = 21,
        ENCR_CHACHA20_POLY1305 = 28,
        ENCR_AES_GCM_16_IIV = 30,
    }
}

wire_enum! {
    /// Transform IDs of type 2 PRF (RFC 7296 §3.3.2, RFC 4868).
    PrfId(u16) {
        PRF_HMAC_SHA1 = 2,
        PRF_HMAC_SHA2_256 = 5,
        PRF_HMAC_SHA2_384 = 6,
        PRF_HMAC_SHA2_512 = 7,
    }
}

wire_enum! {
    /// Transform IDs of type 3 INTEG (RFC 7296 §3.3.2, RFC 4868).
    IntegId(u16) {
        NONE = 0,
        AUTH_HMAC_SHA1_96 = 2,
        AUTH_HMAC_SHA2_256_128 = 12,
        AUTH_HMAC_SHA2_384_192 = 13,
        AUTH_HMAC_SHA2_512_256 = 14,
    }
}

wire_enum! {
    /// Transform IDs of type 4 D-H / key exchange method; also the KE payload group
    /// (RFC 7296 §3.3.2, §3.4; RFC 8031).
    DhGroup(u16) {
        NONE = 0,
        MODP_2048 = 14,
        ECP_256 = 19,
        ECP_384 = 20,
        CURVE25519 = 31,
        CURVE448 = 32,
    }
}

wire_enum! {
    /// Transform IDs of type 5 ESN (RFC 7296 §3.3.2).
    EsnId(u16) {
        NO_ESN = 0,
        ESN = 1,
    }
}

wire_enum! {
    /// Transform attribute type (RFC 7296 §3.3.5); only Key Length is defined.
    AttributeType(u16) {
        KEY_LENGTH = 14,
    }
}

wire_enum! {
    /// ID payload type (RFC 7296 §3.5). 201-255 private use.
    IdType(u8) {
        ID_IPV4_ADDR = 1,
        ID_FQDN = 2,
        ID_RFC822_ADDR = 3,
        ID_IPV6_ADDR = 5,
        ID_DER_ASN1_DN = 9,
        ID_DER_ASN1_GN = 10,
        ID_KEY_ID = 11,
    }
}

wire_enum! {
    /// Certificate encoding of CERT and CERTREQ (RFC 7296 §3.6).
    CertEncoding(u8) {
        PKCS7_X509 = 1,
        X509_SIGNATURE = 4,
        CRL = 7,
        RAW_RSA_KEY = 11,
        HASH_URL_X509 = 12,
        HASH_URL_BUNDLE = 13,
    }
}

wire_enum! {
    /// Authentication method of the AUTH payload (RFC 7296 §3.8, RFC 7427). 201-255 private.
    AuthMethod(u8) {
        RSA_SIG = 1,
        SHARED_KEY_MIC = 2,
        DSS_SIG = 3,
        ECDSA_SHA256_P256 = 9,
        ECDSA_SHA384_P384 = 10,
        ECDSA_SHA512_P521 = 11,
        GSPM = 12,
        NULL_AUTH = 13,
        DIGITAL_SIGNATURE = 14,
    }
}

wire_enum! {
    /// Traffic selector type (RFC 7296 §3.13.1). 241-255 private; nvesec defines 241.
    TsType(u8) {
        TS_IPV4_ADDR_RANGE = 7,
        TS_IPV6_ADDR_RANGE = 8,
        TS_SECLABEL = 10,
        /// nvesec: `VNI start (4) | VNI end (4) | Protocol Type start (2) | end (2)`.
        TS_GENEVE = 241,
    }
}

wire_enum! {
    /// Hash algorithm IDs of SIGNATURE_HASH_ALGORITHMS (RFC 7427 §7, RFC 8420).
    HashAlgorithm(u16) {
        SHA1 = 1,
        SHA2_256 = 2,
        SHA2_384 = 3,
        SHA2_512 = 4,
        IDENTITY = 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_known_and_numbers_unknown() {
        assert_eq!(format!("{:?}", PayloadType::SKF), "SKF");
        assert_eq!(format!("{:?}", PayloadType(200)), "PayloadType(200)");
        assert_eq!(TsType::TS_GENEVE.0, 241);
        assert_eq!(ProtocolId::GSA.0, 201);
        assert!(NotifyType::INVALID_KE_PAYLOAD.is_error());
        assert!(!NotifyType::COOKIE.is_error());
    }
}
