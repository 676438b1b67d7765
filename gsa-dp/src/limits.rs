//! Limits and defaults of the dataplane in one place, each with its reason.

use std::time::Duration;

/// Default anti-replay window (DESIGN.md; RFC 4303 §3.4.3 asks for >= 64).
pub const DEFAULT_REPLAY_WINDOW: u32 = 1024;
/// RFC 4303 §3.4.3: a window of at least 32 MUST be supported.
pub const MIN_REPLAY_WINDOW: u32 = 32;
/// Largest configurable window (DESIGN.md).
pub const MAX_REPLAY_WINDOW: u32 = 4096;
/// Packets held per SECURE policy template while waiting for a GSA (like XFRM's acquire queue).
pub const HOLD_PER_REQID: usize = 8;
/// Packets held in total.
pub const HOLD_TOTAL: usize = 64;
/// How long a held packet waits for its GSA before it is dropped.
pub const HOLD_TIMEOUT: Duration = Duration::from_secs(3);
/// At most one ACQUIRE per template in this interval (XFRM uses a similar larval-state timer).
pub const ACQUIRE_INTERVAL: Duration = Duration::from_secs(1);
/// The SN is a GCM nonce part: it must never repeat under one key (RFC 8750 §7), so the last
/// usable value is a hard stop.
pub const SN_MAX: u64 = u64::MAX;
/// Pad Length is one byte.
pub const MAX_PAD: usize = 255;
/// Most GSOs per packet: the length limit of a SECURE list and of inbound GSO processing.
pub const MAX_GSOS: usize = 8;
/// Most dummy packets per second per GSA (SEC-GEN-7): `dummy_interval_ms` counts whole
/// milliseconds, so 1 ms is the shortest interval. ADD_GSA refuses 0 ms (what `1000 / rate`
/// gives for a rate above this) rather than emit dummies without pause.
pub const MAX_DUMMY_RATE: u64 = 1000;
