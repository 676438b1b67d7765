//! Anti-replay: 64-bit extended sequence numbers (RFC 4303 §3.3.3) inferred from the low 32 bits
//! as RFC 4303 Appendix A2 does, and a bitmap window that never shifts (RFC 6479).
//!
//! Two calls, as RFC 4303 §3.4.3 recommends: [`ReplayWindow::check`] before the ICV/AEAD (cheap
//! pre-check), [`ReplayWindow::update`] only after authentication succeeded.

use crate::limits::{MAX_REPLAY_WINDOW, MIN_REPLAY_WINDOW};

const BLOCK_BITS: u64 = 64;
const BLOCK_SHIFT: u32 = 6;

/// Why a sequence number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("sequence number already seen")]
    Duplicate,
    #[error("sequence number left of the window")]
    TooOld,
    #[error("sequence number 0 is never sent")]
    Zero,
}

/// RFC 6479 ring of 64-bit blocks; the usable window `size` is at most (blocks-1)*64.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    size: u64,
    top: u64,
    ring: Vec<u64>,
    mask: u64,
}

impl ReplayWindow {
    /// `size` is clamped to [MIN_REPLAY_WINDOW, MAX_REPLAY_WINDOW].
    pub fn new(size: u32) -> Self {
        let size = u64::from(size.clamp(MIN_REPLAY_WINDOW, MAX_REPLAY_WINDOW));
        // One hidden block of slack (RFC 6479 §2): a full window never overlaps the newest block.
        let blocks = (size.div_ceil(BLOCK_BITS) + 1).next_power_of_two();
        ReplayWindow {
            size,
            top: 0,
            ring: vec![0; blocks as usize],
            mask: blocks - 1,
        }
    }

    /// Configured window size W.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Highest authenticated sequence number (0 before the first packet).
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Reconstruct the 64-bit SN from its low half (RFC 4303 Appendix A2). `None` when the
    /// inferred high half would be negative: such a packet can only be a replay or forgery.
    pub fn infer(&self, seq_low: u32) -> Option<u64> {
        let w = self.size as u32;
        let tl = self.top as u32;
        let th = (self.top >> 32) as u32;
        let lower_edge = tl.wrapping_sub(w - 1);
        let seqh = if tl >= w - 1 {
            // Case A: window within one epoch.
            if seq_low >= lower_edge {
                th
            } else {
                th.checked_add(1)?
            }
        } else if seq_low >= lower_edge {
            // Case B: the window straddles an epoch boundary; high values belong to Th-1.
            th.checked_sub(1)?
        } else {
            th
        };
        Some((u64::from(seqh) << 32) | u64::from(seq_low))
    }

    /// Pre-check (before crypto): would `seq` be accepted?
    pub fn check(&self, seq: u64) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::Zero);
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= self.size {
            return Err(ReplayError::TooOld);
        }
        if self.ring[self.block(seq)] & Self::bit(seq) != 0 {
            return Err(ReplayError::Duplicate);
        }
        Ok(())
    }

    /// Record `seq` after it authenticated; slides the window right when `seq` is new.
    pub fn update(&mut self, seq: u64) -> Result<(), ReplayError> {
        self.check(seq)?;
        if seq > self.top {
            let old_block = self.top >> BLOCK_SHIFT;
            let new_block = seq >> BLOCK_SHIFT;
            // Clear the blocks the window slides over (at most the whole ring).
            let steps = (new_block - old_block).min(self.ring.len() as u64);
            for i in 1..=steps {
                let b = ((old_block + i) & self.mask) as usize;
                self.ring[b] = 0;
            }
            self.top = seq;
        }
        let b = self.block(seq);
        self.ring[b] |= Self::bit(seq);
        Ok(())
    }

    fn block(&self, seq: u64) -> usize {
        ((seq >> BLOCK_SHIFT) & self.mask) as usize
    }

    fn bit(seq: u64) -> u64 {
        1 << (seq & (BLOCK_BITS - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(w: &mut ReplayWindow, s: u64) -> Result<(), ReplayError> {
        w.check(s)?;
        w.update(s)
    }

    /// Numbered vector table in the style of WireGuard's counter selftest (window 1024).
    #[test]
    fn vector_table() {
        let mut w = ReplayWindow::new(1024);
        let t: &[(u64, Result<(), ReplayError>)] = &[
            /* 0 */ (0, Err(ReplayError::Zero)),
            /* 1 */ (1, Ok(())),
            /* 2 */ (1, Err(ReplayError::Duplicate)),
            /* 3 */ (3, Ok(())),
            /* 4 */ (2, Ok(())), // reordered inside the window
            /* 5 */ (2, Err(ReplayError::Duplicate)),
            /* 6 */ (1025, Ok(())),
            /* 7 */ (1, Err(ReplayError::TooOld)), // top - 1 = 1024 = W: just outside
            /* 8 */
            (2, Err(ReplayError::Duplicate)), // top - 2 = 1023: oldest slot, already seen
            /* 9 */ (4, Ok(())), // inside, never seen
            /* 10 */ (5000, Ok(())), // loss burst longer than the window
            /* 11 */ (3977, Ok(())), // 5000 - 1023: the oldest slot
            /* 12 */ (3976, Err(ReplayError::TooOld)),
            /* 13 */ (4999, Ok(())),
            /* 14 */ (4999, Err(ReplayError::Duplicate)),
            /* 15 */ (5000, Err(ReplayError::Duplicate)),
        ];
        for (i, (s, want)) in t.iter().enumerate() {
            assert_eq!(accept(&mut w, *s), *want, "vector {i} seq {s}");
        }
    }

    #[test]
    fn check_does_not_mutate() {
        let mut w = ReplayWindow::new(64);
        assert!(w.check(10).is_ok());
        assert!(w.check(10).is_ok());
        w.update(10).unwrap();
        assert_eq!(w.check(10), Err(ReplayError::Duplicate));
        assert_eq!(w.top(), 10);
    }

    #[test]
    fn stale_bits_cleared_after_big_jump() {
        // A bit set long ago lands in the same ring slot as a fresh SN after a long loss burst.
        let mut w = ReplayWindow::new(1024);
        w.update(7).unwrap();
        let slots = w.ring.len() as u64 * 64;
        let fresh = 7 + slots; // same block and bit as 7
        w.update(fresh + 10).unwrap();
        assert_eq!(w.check(fresh), Ok(()));
    }

    #[test]
    fn every_sn_in_window_once() {
        let mut w = ReplayWindow::new(4096);
        w.update(10_000).unwrap();
        for s in (10_000 - 4095..10_000).rev() {
            assert_eq!(accept(&mut w, s), Ok(()), "{s}");
        }
        for s in 10_000 - 4095..=10_000 {
            assert_eq!(accept(&mut w, s), Err(ReplayError::Duplicate));
        }
        assert_eq!(accept(&mut w, 10_000 - 4096), Err(ReplayError::TooOld));
    }

    #[test]
    fn window_size_clamped() {
        assert_eq!(ReplayWindow::new(1).size(), u64::from(MIN_REPLAY_WINDOW));
        assert_eq!(
            ReplayWindow::new(1 << 20).size(),
            u64::from(MAX_REPLAY_WINDOW)
        );
    }

    #[test]
    fn esn_inference_case_a() {
        let mut w = ReplayWindow::new(1024);
        w.update((5u64 << 32) | 5000).unwrap();
        assert_eq!(w.infer(5000), Some((5 << 32) | 5000));
        assert_eq!(w.infer(5000 - 1023), Some((5 << 32) | 3977));
        assert_eq!(w.infer(9000), Some((5 << 32) | 9000));
        // Below the window in the low half: must be the next epoch.
        assert_eq!(w.infer(10), Some((6 << 32) | 10));
    }

    #[test]
    fn esn_across_the_2_pow_32_boundary() {
        let mut w = ReplayWindow::new(1024);
        let near = (1u64 << 32) - 3;
        accept(&mut w, near).unwrap();
        // Next packets wrap the low half: 0xffff_fffe, 0xffff_ffff, then 0, 1 in epoch 1.
        for low in [0xffff_fffeu32, 0xffff_ffff, 0, 1] {
            let s = w.infer(low).unwrap();
            accept(&mut w, s).unwrap();
        }
        assert_eq!(w.top(), (1 << 32) | 1);
        // Case B: top low half (1) < W-1; a late packet from the previous epoch.
        let late = w.infer(0xffff_fff0).unwrap();
        assert_eq!(late, 0xffff_fff0);
        assert_eq!(accept(&mut w, late), Ok(()));
        // And a replay of an old epoch-0 packet is caught as a duplicate.
        let old = w.infer(0xffff_ffff).unwrap();
        assert_eq!(accept(&mut w, old), Err(ReplayError::Duplicate));
        // Epoch-1 SN 2 is inferred in epoch 1.
        assert_eq!(w.infer(2), Some((1 << 32) | 2));
    }

    #[test]
    fn esn_case_b_in_epoch_zero_is_refused() {
        let mut w = ReplayWindow::new(1024);
        w.update(5).unwrap();
        // A huge low half while in epoch 0 would belong to epoch -1.
        assert_eq!(w.infer(0xffff_fff0), None);
        assert_eq!(w.infer(6), Some(6));
    }
}
