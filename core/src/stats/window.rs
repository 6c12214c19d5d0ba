//! Event rates over sliding 1, 5 and 15 minute windows, from a ring of 10-second buckets.
//! The window edge moves in 10 s steps, so a "1 minute" rate covers 50 to 60 seconds.

const BUCKET_MS: i64 = 10_000;
const SLOTS: usize = 90; // 15 minutes

#[derive(Debug, Clone)]
pub(crate) struct RateWindow {
    counts: [u64; SLOTS],
    /// The bucket number (time / 10 s) each slot currently holds.
    epochs: [i64; SLOTS],
}

impl Default for RateWindow {
    fn default() -> Self {
        Self {
            counts: [0; SLOTS],
            epochs: [i64::MIN; SLOTS],
        }
    }
}

impl RateWindow {
    #[inline]
    pub fn record(&mut self, now_ms: i64, n: u64) {
        let epoch = now_ms.div_euclid(BUCKET_MS);
        let slot = epoch.rem_euclid(SLOTS as i64) as usize;
        if self.epochs[slot] != epoch {
            self.epochs[slot] = epoch;
            self.counts[slot] = 0;
        }
        self.counts[slot] += n;
    }

    /// Events in the last `minutes` minutes (the current bucket included).
    pub fn count_last(&self, now_ms: i64, minutes: i64) -> u64 {
        let current = now_ms.div_euclid(BUCKET_MS);
        let span = minutes * 60_000 / BUCKET_MS;
        self.epochs
            .iter()
            .zip(self.counts.iter())
            .filter(|(&e, _)| e <= current && e > current - span)
            .map(|(_, &c)| c)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_slide() {
        let mut w = RateWindow::default();
        let t0 = 1_000_000_000_000;
        w.record(t0, 5);
        w.record(t0 + 30_000, 3);
        assert_eq!(w.count_last(t0 + 30_000, 1), 8);
        // At +85 s the 1-minute window holds the buckets from +30 s on.
        assert_eq!(w.count_last(t0 + 85_000, 1), 3);
        assert_eq!(w.count_last(t0 + 95_000, 1), 0);
        assert_eq!(w.count_last(t0 + 95_000, 5), 8);
        assert_eq!(w.count_last(t0 + 16 * 60_000, 15), 0);
        // A slot reused after 15 minutes starts from zero.
        w.record(t0 + 15 * 60_000, 1);
        assert_eq!(w.count_last(t0 + 15 * 60_000, 1), 1);
    }
}
