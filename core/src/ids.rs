//! Random identifiers without an OS entropy dependency: a lock-free wyrand generator seeded
//! from std's per-process hash keys (native) or from a host-provided seed (wasm32), and
//! UUIDv7 formatting.

use std::sync::atomic::{AtomicU64, Ordering};

const WY_ADD: u64 = 0xa076_1d64_78bd_642f;
const WY_XOR: u64 = 0xe703_7ed1_a0b4_28db;

/// A thread-safe pseudo-random generator (wyrand). Not for secrets; ids only need to be unique.
#[derive(Debug)]
pub struct IdGenerator {
    state: AtomicU64,
}

impl IdGenerator {
    /// A generator with a fixed seed (reproducible ids).
    pub fn new(seed: u64) -> Self {
        Self {
            state: AtomicU64::new(seed),
        }
    }

    /// Seeds from std's randomly keyed hasher (OS entropy on native targets) mixed with `salt`.
    pub fn from_entropy(salt: u64) -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(salt);
        Self::new(hasher.finish() ^ salt.rotate_left(17))
    }

    /// The next pseudo-random number.
    pub fn next_u64(&self) -> u64 {
        let s = self
            .state
            .fetch_add(WY_ADD, Ordering::Relaxed)
            .wrapping_add(WY_ADD);
        let t = u128::from(s) * u128::from(s ^ WY_XOR);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// A float uniformly distributed in `[0, 1)`.
    pub fn next_f64(&self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A UUIDv7 string for the given Unix time in milliseconds (RFC 9562).
    pub fn uuid_v7(&self, unix_ms: i64) -> String {
        let ms = (unix_ms.max(0) as u64) & 0xffff_ffff_ffff;
        let rand_a = self.next_u64();
        let rand_b = self.next_u64();
        let hi: u64 = (ms << 16) | 0x7000 | (rand_a & 0x0fff);
        let lo: u64 = (rand_b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
        format_uuid(hi, lo)
    }

    /// A UUIDv4-style random id, used for generated anonymous ids.
    pub fn uuid_v4(&self) -> String {
        let hi = (self.next_u64() & 0xffff_ffff_ffff_0fff) | 0x4000;
        let lo = (self.next_u64() & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
        format_uuid(hi, lo)
    }
}

fn format_uuid(hi: u64, lo: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Where each of the 32 hex digits goes, around the four dashes.
    const POS: [usize; 32] = [
        0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17, 19, 20, 21, 22, 24, 25, 26, 27, 28,
        29, 30, 31, 32, 33, 34, 35,
    ];
    let mut out = *b"00000000-0000-0000-0000-000000000000";
    for (half, word) in [hi, lo].into_iter().enumerate() {
        for i in 0..16 {
            out[POS[half * 16 + i]] = HEX[((word >> (60 - 4 * i)) & 0xf) as usize];
        }
    }
    // Only ASCII hex digits and dashes were written.
    std::str::from_utf8(&out)
        .map(str::to_owned)
        .unwrap_or_default()
}

/// 64-bit FNV-1a followed by a finalizer: a stable hash shared by every runtime, used for
/// deterministic sampling on `messageId`.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64 finalizer spreads FNV's weak low bits.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v7_layout() {
        let g = IdGenerator::new(7);
        let id = g.uuid_v7(1_700_000_000_000);
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "7");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        // The first 48 bits are the timestamp.
        let ts = u64::from_str_radix(&id[0..8], 16).unwrap() << 16
            | u64::from_str_radix(&id[9..13], 16).unwrap();
        assert_eq!(ts, 1_700_000_000_000);
        assert_ne!(g.uuid_v7(1), g.uuid_v7(1));
    }

    #[test]
    fn uniform_floats_in_range() {
        let g = IdGenerator::from_entropy(1);
        for _ in 0..1000 {
            let x = g.next_f64();
            assert!((0.0..1.0).contains(&x));
        }
    }
}
