//! Declarative payload rules per exchange and direction, checked once before any state code
//! runs (the strongSwan `message.c` rule tables, RFC 7296 §1.2-§1.4, RFC 6023 for childless
//! IKE_AUTH). Order is not checked: payloads may come in any order (RFC 7296 §2.5).
//!
//! An error Notify (or COOKIE, RFC 7296 §2.6) makes the minimum counts moot, so a response that
//! only reports a failure passes; maximum counts always apply, so a duplicated singleton (two
//! SA, two Nonce, ...) is refused, never first- or last-wins. Unknown non-critical payloads,
//! and known payloads the exchange has no use for, are ignored: the critical bit obliges a
//! receiver to refuse only payloads it does not understand (RFC 7296 §2.5), and the codec
//! refuses unknown critical ones itself.
//!
//! The engine applies these tables through the typed message views of `crate::sa::views`,
//! which add the shape of each message kind (e.g. TSi/TSr for a new GSA, KE for an IKE rekey).

use super::enums::{ExchangeType, NotifyType, PayloadType};
use super::message::Message;
use super::payloads::Payload;

/// "Any number" for [`PayloadRule::max`].
pub const MANY: usize = usize::MAX;

/// How many payloads of one type a message may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadRule {
    pub ty: PayloadType,
    pub min: usize,
    pub max: usize,
}

/// The rules of one (exchange, request/response) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRule {
    pub exchange: ExchangeType,
    pub response: bool,
    /// Payloads travel inside SK/SKF; the outer message carries nothing else.
    pub encrypted: bool,
    pub payloads: &'static [PayloadRule],
}

const fn r(ty: PayloadType, min: usize, max: usize) -> PayloadRule {
    PayloadRule { ty, min, max }
}

use PayloadType as P;

const SA_INIT_REQUEST: &[PayloadRule] = &[
    r(P::SA, 1, 1),
    r(P::KE, 1, 1),
    r(P::NONCE, 1, 1),
    r(P::NOTIFY, 0, MANY),
    r(P::VENDOR_ID, 0, MANY),
];
const SA_INIT_RESPONSE: &[PayloadRule] = &[
    r(P::SA, 1, 1),
    r(P::KE, 1, 1),
    r(P::NONCE, 1, 1),
    r(P::CERTREQ, 0, MANY),
    r(P::NOTIFY, 0, MANY),
    r(P::VENDOR_ID, 0, MANY),
];
// SA/TSi/TSr are optional: childless IKE_AUTH (RFC 6023).
const AUTH_REQUEST: &[PayloadRule] = &[
    r(P::IDI, 1, 1),
    r(P::CERT, 0, MANY),
    r(P::CERTREQ, 0, MANY),
    r(P::IDR, 0, 1),
    r(P::AUTH, 1, 1),
    r(P::SA, 0, 1),
    r(P::TSI, 0, 1),
    r(P::TSR, 0, 1),
    r(P::NOTIFY, 0, MANY),
    r(P::VENDOR_ID, 0, MANY),
];
const AUTH_RESPONSE: &[PayloadRule] = &[
    r(P::IDR, 1, 1),
    r(P::CERT, 0, MANY),
    r(P::AUTH, 1, 1),
    r(P::SA, 0, 1),
    r(P::TSI, 0, 1),
    r(P::TSR, 0, 1),
    r(P::NOTIFY, 0, MANY),
    r(P::VENDOR_ID, 0, MANY),
];
// New/rekeyed Child SA or GSA, or IKE SA rekey (then KE is required, checked by the engine).
const CREATE_CHILD: &[PayloadRule] = &[
    r(P::SA, 1, 1),
    r(P::NONCE, 1, 1),
    r(P::KE, 0, 1),
    r(P::TSI, 0, 1),
    r(P::TSR, 0, 1),
    r(P::NOTIFY, 0, MANY),
    r(P::VENDOR_ID, 0, MANY),
];
const INFORMATIONAL: &[PayloadRule] = &[
    r(P::NOTIFY, 0, MANY),
    r(P::DELETE, 0, MANY),
    r(P::VENDOR_ID, 0, MANY),
];

const fn m(
    x: ExchangeType,
    response: bool,
    encrypted: bool,
    p: &'static [PayloadRule],
) -> MessageRule {
    MessageRule {
        exchange: x,
        response,
        encrypted,
        payloads: p,
    }
}

/// All rules nvesec knows; other exchanges are refused.
pub const RULES: &[MessageRule] = &[
    m(ExchangeType::IKE_SA_INIT, false, false, SA_INIT_REQUEST),
    m(ExchangeType::IKE_SA_INIT, true, false, SA_INIT_RESPONSE),
    m(ExchangeType::IKE_AUTH, false, true, AUTH_REQUEST),
    m(ExchangeType::IKE_AUTH, true, true, AUTH_RESPONSE),
    m(ExchangeType::CREATE_CHILD_SA, false, true, CREATE_CHILD),
    m(ExchangeType::CREATE_CHILD_SA, true, true, CREATE_CHILD),
    m(ExchangeType::INFORMATIONAL, false, true, INFORMATIONAL),
    m(ExchangeType::INFORMATIONAL, true, true, INFORMATIONAL),
];

/// Why a message breaks its rule. All map to INVALID_SYNTAX for requests (RFC 7296 §2.21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RuleViolation {
    #[error("exchange {0} is not supported")]
    UnsupportedExchange(ExchangeType),
    #[error("{0} must be encrypted")]
    NotEncrypted(ExchangeType),
    #[error("{0} must not be encrypted")]
    Encrypted(ExchangeType),
    #[error("payload {ty} not allowed here")]
    NotAllowed { ty: PayloadType },
    #[error("{got} payload(s) {ty}, at least {min} required")]
    TooFew {
        ty: PayloadType,
        min: usize,
        got: usize,
    },
    #[error("{got} payload(s) {ty}, at most {max} allowed")]
    TooMany {
        ty: PayloadType,
        max: usize,
        got: usize,
    },
}

/// The rule of an exchange and direction.
pub fn rule_for(exchange: ExchangeType, response: bool) -> Option<&'static MessageRule> {
    RULES
        .iter()
        .find(|r| r.exchange == exchange && r.response == response)
}

/// Phase one, on the outer message: the exchange is known, and encrypted exchanges carry
/// exactly one SK/SKF (plus nothing but skipped unknown payloads). For IKE_SA_INIT this also
/// checks the payloads; for the others call [`check_payloads`] after decryption.
pub fn check_outer(msg: &Message) -> Result<(), RuleViolation> {
    let h = &msg.header;
    let rule = rule_for(h.exchange, h.flags.is_response())
        .ok_or(RuleViolation::UnsupportedExchange(h.exchange))?;
    let encrypted = msg.payloads.iter().filter(|p| p.is_encrypted()).count();
    if !rule.encrypted {
        if encrypted > 0 {
            return Err(RuleViolation::Encrypted(h.exchange));
        }
        return check_payloads(h.exchange, h.flags.is_response(), &msg.payloads);
    }
    if encrypted != 1 {
        return Err(RuleViolation::NotEncrypted(h.exchange));
    }
    match msg
        .payloads
        .iter()
        .find(|p| !p.is_encrypted() && !is_unknown(p))
    {
        Some(p) => Err(RuleViolation::NotAllowed {
            ty: p.payload_type(),
        }),
        None => Ok(()),
    }
}

fn is_unknown(p: &Payload) -> bool {
    matches!(p, Payload::Unknown { .. })
}

/// Checks payload counts: the IKE_SA_INIT payloads, or the decrypted (reassembled) contents.
pub fn check_payloads(
    exchange: ExchangeType,
    response: bool,
    payloads: &[Payload],
) -> Result<(), RuleViolation> {
    let rule = rule_for(exchange, response).ok_or(RuleViolation::UnsupportedExchange(exchange))?;
    // SK/SKF never appear among these payloads: decrypted contents cannot hold them
    // (`parse_inner`), and unencrypted exchanges must not carry them (RFC 7296 §3.14).
    if payloads.iter().any(Payload::is_encrypted) {
        return Err(RuleViolation::Encrypted(exchange));
    }
    // Payload types absent from the table are ignored, not refused (RFC 7296 §2.5: the codec
    // understands them, so their critical bit does not matter); nothing reads them.
    let reports_failure = payloads
        .iter()
        .any(|p| matches!(p, Payload::Notify(n) if n.ty.is_error() || n.ty == NotifyType::COOKIE));
    for r in rule.payloads {
        let got = payloads.iter().filter(|p| p.payload_type() == r.ty).count();
        if got > r.max {
            return Err(RuleViolation::TooMany {
                ty: r.ty,
                max: r.max,
                got,
            });
        }
        if got < r.min && !reports_failure {
            return Err(RuleViolation::TooFew {
                ty: r.ty,
                min: r.min,
                got,
            });
        }
    }
    Ok(())
}
