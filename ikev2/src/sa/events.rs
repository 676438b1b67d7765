//! What the engine hands back: datagrams to send and events for the daemon.

use std::fmt;
use std::net::SocketAddr;

use zeroize::Zeroizing;

use crate::config::{GsaSelectors, Identity, Lifetimes, Protection};
use crate::endpoint::IkeSaId;
use crate::wire::enums::NotifyType;

/// A datagram to send from `src` to `dst` (the caller adds the non-ESP marker on port 4500).
#[derive(Clone, PartialEq, Eq)]
pub struct Transmit {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Transmit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Transmit({} -> {}, {} bytes)",
            self.src,
            self.dst,
            self.bytes.len()
        )
    }
}

/// Log severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

/// A log line with strongSwan's `<conn|uid>` context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub level: LogLevel,
    pub context: String,
    pub message: String,
}

/// One direction's GSA key: the GSA-ID the receiver of this direction chose, and
/// `AES key || 4-byte salt` (GEO and GMAC slices, DESIGN.md). Zeroized on drop, redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct GsaKeys {
    pub gsa_id: u32,
    key: Zeroizing<Vec<u8>>,
}

impl GsaKeys {
    pub fn new(gsa_id: u32, key: Vec<u8>) -> Self {
        Self {
            gsa_id,
            key: Zeroizing::new(key),
        }
    }

    /// `AES key || salt(4)`.
    pub fn key_material(&self) -> &[u8] {
        &self.key
    }
}

impl fmt::Debug for GsaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "GsaKeys {{ gsa_id: {:#010x}, key: <{} bytes redacted> }}",
            self.gsa_id,
            self.key.len()
        )
    }
}

/// Negotiated parameters of a GSA pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GsaParams {
    /// The child config name.
    pub name: String,
    pub protection: Protection,
    pub key_bits: u16,
    /// 64-bit sequence numbers (always on for GSAs).
    pub esn: bool,
    /// Narrowed selectors (RFC 7296 §2.9), from this node's point of view.
    pub selectors: GsaSelectors,
    pub lifetimes: Lifetimes,
}

/// Why an IKE SA went away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// We deleted it (command, or the old SA after an IKE rekey).
    DeletedLocally,
    /// The peer sent a Delete for it.
    DeletedByPeer,
    /// Retransmissions went unanswered (RFC 7296 §2.4).
    PeerDead,
    /// Authentication failed on either side.
    AuthFailed,
    /// Replaced by a rekeyed IKE SA that inherited its GSAs.
    Rekeyed { new: IkeSaId },
    /// The peer refused IKE_SA_INIT (e.g. NO_PROPOSAL_CHOSEN), or a protocol error.
    NegotiationFailed(String),
    /// A half-open responder SA saw no IKE_AUTH in time.
    HalfOpenTimeout,
    /// The peer authenticated a new IKE SA with INITIAL_CONTACT: this one is stale.
    InitialContact,
    /// Both ends initiated at once; the other IKE SA to this peer won the tie-break.
    Duplicate,
}

/// Events, in the order they happened. Install the inbound GSA before the outbound one
/// (make-before-break), and switch outbound only on [`Event::GsaSwitchOutbound`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// IKE SA authenticated and established.
    IkeSaUp {
        ike: IkeSaId,
        conn: String,
        local_id: Identity,
        peer_id: Identity,
        local: SocketAddr,
        remote: SocketAddr,
        /// We were the IKE_SA_INIT initiator.
        initiator: bool,
        /// Both sides sent the nvesec GSA Vendor ID.
        gsa_capable: bool,
    },
    /// IKE SA gone; its GSAs were removed with [`Event::GsaRemove`] first (unless rekeyed).
    IkeSaDown {
        ike: IkeSaId,
        reason: DownReason,
    },
    /// An IKE SA rekey completed; `new` inherited the GSAs of `old`.
    IkeSaRekeyed {
        old: IkeSaId,
        new: IkeSaId,
    },
    /// Install a GSA pair. `outbound_active`: start sending on `outbound` now; otherwise keep
    /// the previous outbound GSA until [`Event::GsaSwitchOutbound`].
    GsaInstall {
        ike: IkeSaId,
        params: GsaParams,
        inbound: GsaKeys,
        outbound: GsaKeys,
        outbound_active: bool,
        /// Inbound GSA-ID of the GSA this one replaces (rekey), if any.
        replaces: Option<u32>,
    },
    /// Move outbound traffic from `from` (outbound GSA-ID) to `to`.
    GsaSwitchOutbound {
        ike: IkeSaId,
        from: u32,
        to: u32,
    },
    /// Remove a GSA pair (identified by its inbound GSA-ID; `outbound` is its peer-chosen ID).
    GsaRemove {
        ike: IkeSaId,
        inbound: u32,
        outbound: u32,
    },
    /// The peer was refused a GSA (authorization, REQ 4/14) or refused ours.
    GsaRefused {
        ike: IkeSaId,
        child: String,
        notify: NotifyType,
        reason: String,
    },
    /// Authentication failed (either direction); no SA results.
    AuthFailed {
        ike: IkeSaId,
        conn: String,
        notify: NotifyType,
        reason: String,
    },
    Log(LogRecord),
}
