//! Maps keyed by a `u32` identifier (GSA-ID, reqid, VNI) on the per-packet path.
//!
//! std's default SipHash costs more than the rest of a table lookup and showed as ~8 % of the
//! sending dataplane's cycles in `perf` (three lookups per sealed packet). Its DoS resistance
//! buys nothing here: the keys in these tables are chosen by us (the keying client), never by
//! whoever sends packets, and a lookup of an attacker's key only probes what is there. A
//! multiplicative (Fibonacci) hash with the high half folded into the low half spreads random
//! SPIs, sequential VNIs and strided values alike over hashbrown's bucket index (low bits) and
//! control byte (top 7 bits).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// `HashMap<u32, V>` with [`IdHasher`].
pub type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

/// 2^64 / phi, odd: multiplication by it is a bijection on u64.
const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// Hasher for integer keys. Other input (never produced by `u32` keys) is folded in bytewise.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(K);
    }

    fn finish(&self) -> u64 {
        // The low bits of a product depend only on the low bits of the key: fold the (well
        // mixed) high half down so keys that differ only in their high bits still spread.
        self.0 ^ (self.0 >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn h(n: u32) -> u64 {
        BuildHasherDefault::<IdHasher>::default().hash_one(n)
    }

    /// Keys that differ only in high bits (strided GSA-IDs) or only in low bits (sequential
    /// VNIs) must land in distinct buckets of a 1024-bucket table.
    #[test]
    fn strided_and_sequential_keys_spread_over_buckets() {
        for keys in [
            (0..256u32).map(|i| i << 24).collect::<Vec<_>>(),
            (0..256u32).map(|i| i << 12).collect(),
            (100..356u32).collect(),
        ] {
            let mut buckets: Vec<u64> = keys.iter().map(|&k| h(k) & 1023).collect();
            buckets.sort_unstable();
            buckets.dedup();
            assert!(buckets.len() > 200, "{} distinct of 256", buckets.len());
            let mut tops: Vec<u64> = keys.iter().map(|&k| h(k) >> 57).collect();
            tops.sort_unstable();
            tops.dedup();
            assert!(tops.len() > 64, "{} distinct control bytes", tops.len());
        }
    }

    #[test]
    fn map_behaves_like_a_map() {
        let mut m: IdMap<u32> = IdMap::default();
        for k in (0..5000u32).map(|i| i.wrapping_mul(2_654_435_761)) {
            m.insert(k, k ^ 1);
        }
        assert_eq!(m.len(), 5000);
        for k in (0..5000u32).map(|i| i.wrapping_mul(2_654_435_761)) {
            assert_eq!(m.get(&k), Some(&(k ^ 1)));
        }
        assert_eq!(m.get(&7), None);
    }
}
