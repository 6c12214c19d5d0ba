//! DDSketch (Masson, Rim, Lee, VLDB 2019): quantiles with a relative-error guarantee, a
//! bounded number of bins, and exact merging of sketches with the same accuracy.
//!
//! The index mapping is DDSketch's cubically interpolated one: log2 is approximated from the
//! float's exponent bits and a cubic in its mantissa, so an insert needs no `ln()` call. The
//! bin width is narrowed by the approximation's largest slope error (7/10 against ln 2),
//! which keeps the relative-error guarantee at the cost of about 1% more bins.
//!
//! Values are latencies, so only non-negative values are kept; values below
//! [`MIN_INDEXABLE`] (and zero) are counted in a zero bucket. Negative and non-finite
//! values are ignored and counted in `rejected`.

use crate::event::json::number_text;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

/// Smallest value given its own bin; anything below counts as zero.
pub const MIN_INDEXABLE: f64 = 1e-9;

/// Coefficients of the cubic P(s) = A s³ + B s² + C s ≈ log2(1 + s) on [0, 1).
const A: f64 = 6.0 / 35.0;
const B: f64 = -3.0 / 5.0;
const C: f64 = 10.0 / 7.0;
/// The largest d(ln x)/dP over an octave, 1 / min((1 + s) P'(s)) = 7/10.
const MAX_SLOPE: f64 = 0.7;
/// The mapping's name in the wire form.
const MAPPING: &str = "cubic_log2";

/// log2(x) for positive normal `x`, exact at powers of two, monotone, no libm call.
#[inline]
fn approx_log2(x: f64) -> f64 {
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let s = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000) - 1.0;
    ((A * s + B) * s + C) * s + exponent as f64
}

/// The inverse of [`approx_log2`] (Newton's method on the cubic; only used for quantiles).
fn inverse_approx_log2(y: f64) -> f64 {
    let exponent = y.floor();
    let target = y - exponent;
    let mut s = target;
    for _ in 0..8 {
        let p = ((A * s + B) * s + C) * s - target;
        let slope = (3.0 * A * s + 2.0 * B) * s + C;
        s = (s - p / slope).clamp(0.0, 1.0);
    }
    (1.0 + s) * power_of_two(exponent)
}

/// 2^`exponent` for a whole `exponent`, built from its bits: exact, as `exp2` is for whole
/// numbers, without libm's `exp2` and its 4 KB table in the browser's `.wasm`. Past the
/// normal range it is 0 or infinity (no sketch holds such values).
fn power_of_two(exponent: f64) -> f64 {
    if exponent > 1023.0 {
        f64::INFINITY
    } else if exponent < -1022.0 {
        0.0
    } else {
        f64::from_bits(((exponent as i64 + 1023) as u64) << 52)
    }
}

/// A mergeable quantile sketch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "SketchWire", into = "SketchWire")]
pub struct DDSketch {
    relative_accuracy: f64,
    /// Bins per unit of approximated log2: 0.7 / ln(gamma).
    multiplier: f64,
    max_bins: usize,
    /// Index of `bins[0]`.
    offset: i32,
    bins: Vec<u64>,
    zero_count: u64,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    rejected: u64,
}

impl Default for DDSketch {
    fn default() -> Self {
        Self::new(0.01, 2048)
    }
}

impl DDSketch {
    /// `relative_accuracy` in (0, 1); `max_bins` bounds memory (lowest bins collapse first,
    /// which keeps the upper quantiles exact to the accuracy).
    pub fn new(relative_accuracy: f64, max_bins: usize) -> Self {
        let alpha = relative_accuracy.clamp(1e-6, 0.5);
        let gamma = (1.0 + alpha) / (1.0 - alpha);
        Self {
            relative_accuracy: alpha,
            multiplier: MAX_SLOPE / gamma.ln(),
            max_bins: max_bins.max(16),
            offset: 0,
            bins: Vec::new(),
            zero_count: 0,
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            rejected: 0,
        }
    }

    /// The relative accuracy of quantiles (0.01 is 1%).
    pub fn relative_accuracy(&self) -> f64 {
        self.relative_accuracy
    }

    #[inline]
    fn index_of(&self, value: f64) -> i32 {
        (approx_log2(value) * self.multiplier).ceil() as i32
    }

    /// A value within the relative accuracy of every value in bin `index`.
    fn value_of(&self, index: i32) -> f64 {
        let lower = inverse_approx_log2(f64::from(index - 1) / self.multiplier);
        let upper = inverse_approx_log2(f64::from(index) / self.multiplier);
        // Equal relative error to both bin edges.
        2.0 * lower * upper / (lower + upper)
    }

    /// Adds one value.
    #[inline]
    pub fn add(&mut self, value: f64) {
        self.add_n(value, 1);
    }

    /// Adds `value` `n` times.
    pub fn add_n(&mut self, value: f64, n: u64) {
        if n == 0 {
            return;
        }
        if !value.is_finite() || value < 0.0 {
            self.rejected += n;
            return;
        }
        self.count += n;
        self.sum += value * n as f64;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if value < MIN_INDEXABLE {
            self.zero_count += n;
            return;
        }
        let index = self.index_of(value);
        self.add_to_bin(index, n);
    }

    #[inline]
    fn add_to_bin(&mut self, index: i32, n: u64) {
        if self.bins.is_empty() {
            self.offset = index;
            self.bins.push(n);
            return;
        }
        let end = self.offset + self.bins.len() as i32;
        if index >= self.offset && index < end {
            let bin = &mut self.bins[(index - self.offset) as usize];
            *bin = bin.saturating_add(n);
        } else if index >= end {
            let new_len = (index - self.offset + 1) as usize;
            if new_len > self.max_bins {
                // Keep the top `max_bins` indexes; everything lower folds into the lowest.
                self.rebase(index - self.max_bins as i32 + 1);
            } else {
                self.bins.resize(new_len, 0);
            }
            let i = (index - self.offset) as usize;
            self.bins[i] = self.bins[i].saturating_add(n);
        } else if self.bins.len() >= self.max_bins {
            // Below a full range: the lowest bin already stands for everything below it.
            self.bins[0] = self.bins[0].saturating_add(n);
        } else {
            let room = self.max_bins - self.bins.len();
            let grow = ((self.offset - index) as usize).min(room);
            let mut fresh = vec![0u64; grow];
            fresh[0] = n;
            fresh.extend_from_slice(&self.bins);
            self.bins = fresh;
            self.offset -= grow as i32;
        }
    }

    /// Moves the lowest kept index up to `new_offset`, folding lower bins into it.
    fn rebase(&mut self, new_offset: i32) {
        let mut bins = vec![0u64; self.max_bins];
        for (i, &c) in self.bins.iter().enumerate() {
            let index = self.offset + i as i32;
            let j = (index.max(new_offset) - new_offset) as usize;
            if let Some(slot) = bins.get_mut(j) {
                *slot = slot.saturating_add(c);
            }
        }
        self.bins = bins;
        self.offset = new_offset;
    }

    /// Values added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of the values (exact).
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Smallest value (exact).
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    /// Largest value (exact).
    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    /// Mean value (exact).
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// The value at quantile `q` in [0, 1], within the relative accuracy.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * (self.count - 1) as f64;
        let mut seen = self.zero_count as f64;
        if rank < seen {
            // Every value in the zero bucket is below MIN_INDEXABLE; the smallest is exact.
            return Some(self.min);
        }
        for (i, &c) in self.bins.iter().enumerate() {
            seen += c as f64;
            if rank < seen {
                let v = self.value_of(self.offset + i as i32);
                // Not `clamp`: it panics (with f64 formatting code) when min > max.
                return Some(v.max(self.min).min(self.max));
            }
        }
        Some(self.max)
    }

    /// Values below the smallest indexable one (zero and tiny values), then each bin's
    /// representative value and count, ascending: for re-bucketing into other formats.
    pub fn bins(&self) -> (u64, impl Iterator<Item = (f64, u64)> + '_) {
        let bins = self
            .bins
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, &c)| {
                let v = self
                    .value_of(self.offset + i as i32)
                    .max(self.min)
                    .min(self.max);
                (v, c)
            });
        (self.zero_count, bins)
    }

    /// How many values are at most `x`, to the sketch's accuracy: a bin counts when its
    /// representative value (the one `quantile` answers with) is at most `x`. Histogram
    /// buckets for exposition formats come from this.
    pub fn count_at_most(&self, x: f64) -> u64 {
        if self.count == 0 || x < self.min {
            return 0;
        }
        if x >= self.max {
            return self.count;
        }
        let mut n = self.zero_count;
        for (i, &c) in self.bins.iter().enumerate() {
            let v = self
                .value_of(self.offset + i as i32)
                .max(self.min)
                .min(self.max);
            if v > x {
                break;
            }
            n = n.saturating_add(c);
        }
        n
    }

    /// Adds every value of `other`. Both must have the same accuracy.
    pub fn merge(&mut self, other: &DDSketch) -> Result<(), Error> {
        if (self.relative_accuracy - other.relative_accuracy).abs() > 1e-12 {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!(
                    "cannot merge sketches of accuracy {} and {}",
                    number_text(self.relative_accuracy),
                    number_text(other.relative_accuracy)
                ),
            ));
        }
        self.count = self.count.saturating_add(other.count);
        self.zero_count = self.zero_count.saturating_add(other.zero_count);
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.rejected = self.rejected.saturating_add(other.rejected);
        for (i, &c) in other.bins.iter().enumerate() {
            if c > 0 {
                self.add_to_bin(other.offset + i as i32, c);
            }
        }
        Ok(())
    }
}

impl DDSketch {
    /// The values added since `earlier`, an earlier copy of this same sketch: a sketch of a
    /// recent window, for alert rules on "p95 over the last minute". Min and max of the
    /// window are estimated from its outermost bins (within the accuracy).
    pub fn since(&self, earlier: &DDSketch) -> DDSketch {
        let mut window = DDSketch::new(self.relative_accuracy, self.max_bins);
        for (i, &c) in self.bins.iter().enumerate() {
            let index = self.offset + i as i32;
            let before = earlier
                .bins
                .get(usize::try_from(index - earlier.offset).unwrap_or(usize::MAX))
                .copied()
                .unwrap_or(0);
            let n = c.saturating_sub(before);
            if n > 0 {
                window.add_to_bin(index, n);
                let v = self.value_of(index);
                window.min = window.min.min(v);
                window.max = window.max.max(v);
            }
        }
        window.zero_count = self.zero_count.saturating_sub(earlier.zero_count);
        if window.zero_count > 0 {
            window.min = 0.0;
            window.max = window.max.max(0.0);
        }
        window.count = window.zero_count + window.bins.iter().sum::<u64>();
        window.sum = (self.sum - earlier.sum).max(0.0);
        window.rejected = self.rejected.saturating_sub(earlier.rejected);
        window
    }
}

impl DDSketch {
    /// Writes the wire form (as `SketchWire` serializes) straight to JSON text; see
    /// `stats/json.rs`.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = super::json::Object::new(out);
        o.str("mapping", MAPPING);
        o.f64("relativeAccuracy", self.relative_accuracy);
        o.u64("maxBins", self.max_bins as u64);
        o.u64("count", self.count);
        o.u64("zeroCount", self.zero_count);
        o.f64("sum", self.sum);
        o.opt_f64("min", self.min());
        o.opt_f64("max", self.max());
        o.u64("rejected", self.rejected);
        let bins = o.key("bins");
        bins.push(b'[');
        let mut first = true;
        for (i, &c) in self.bins.iter().enumerate().filter(|(_, &c)| c > 0) {
            if !first {
                bins.push(b',');
            }
            first = false;
            let index = i64::from(self.offset) + i as i64;
            bins.push(b'[');
            if index < 0 {
                bins.push(b'-');
            }
            crate::event::json::write_u64(index.unsigned_abs(), bins);
            bins.push(b',');
            crate::event::json::write_u64(c, bins);
            bins.push(b']');
        }
        bins.push(b']');
        o.end();
    }
}

/// The most bins a decoded sketch may keep (512 KiB of counts).
const MAX_BINS_LIMIT: usize = 1 << 16;

/// The finest accuracy a decoded sketch may claim: finer ones map values to indexes
/// beyond [`MAX_BIN_INDEX`].
const MIN_RELATIVE_ACCURACY: f64 = 1e-6;

/// The largest bin index magnitude: at the finest accuracy, `f64::MAX` maps to about
/// 3.6e8, well inside `i32` arithmetic on offsets and lengths.
const MAX_BIN_INDEX: u32 = 1 << 30;

/// Serialized form: sparse bins as `[index, count]` pairs.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SketchWire {
    /// The index mapping; bins of different mappings cannot be combined.
    mapping: String,
    relative_accuracy: f64,
    max_bins: usize,
    count: u64,
    zero_count: u64,
    sum: f64,
    min: Option<f64>,
    max: Option<f64>,
    #[serde(default)]
    rejected: u64,
    bins: Vec<(i32, u64)>,
}

impl From<DDSketch> for SketchWire {
    fn from(s: DDSketch) -> Self {
        let bins = s
            .bins
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| (s.offset + i as i32, c))
            .collect();
        SketchWire {
            mapping: MAPPING.to_owned(),
            relative_accuracy: s.relative_accuracy,
            max_bins: s.max_bins,
            count: s.count,
            zero_count: s.zero_count,
            sum: s.sum,
            min: s.min(),
            max: s.max(),
            rejected: s.rejected,
            bins,
        }
    }
}

impl TryFrom<SketchWire> for DDSketch {
    type Error = String;

    fn try_from(w: SketchWire) -> Result<Self, String> {
        if w.mapping != MAPPING {
            return Err(format!(
                "unknown sketch mapping {} (expected {})",
                crate::event::json::quoted(&w.mapping),
                crate::event::json::quoted(MAPPING)
            ));
        }
        if !(w.relative_accuracy > 0.0 && w.relative_accuracy < 1.0) {
            return Err(format!(
                "relativeAccuracy {} is not in (0, 1)",
                number_text(w.relative_accuracy)
            ));
        }
        // A snapshot may come from anywhere (merge_stats, a file): bound what it can make
        // this process allocate or compute before building anything from it.
        if w.max_bins > MAX_BINS_LIMIT {
            return Err(format!(
                "maxBins {} is over the limit of {MAX_BINS_LIMIT}",
                w.max_bins
            ));
        }
        if w.relative_accuracy < MIN_RELATIVE_ACCURACY {
            return Err(format!(
                "relativeAccuracy {} is under the smallest supported, {}",
                number_text(w.relative_accuracy),
                number_text(MIN_RELATIVE_ACCURACY)
            ));
        }
        if let Some(&(index, _)) = w
            .bins
            .iter()
            .find(|(i, _)| i.unsigned_abs() > MAX_BIN_INDEX)
        {
            return Err(format!(
                "bin index {index} is outside the range any value maps to (±{MAX_BIN_INDEX})"
            ));
        }
        let mut s = DDSketch::new(w.relative_accuracy, w.max_bins);
        let binned = w
            .bins
            .iter()
            .try_fold(0u64, |total, &(_, c)| total.checked_add(c))
            .and_then(|b| b.checked_add(w.zero_count));
        if binned != Some(w.count) {
            return Err(format!(
                "sketch count {} does not match its bins and zero count ({})",
                w.count, w.zero_count
            ));
        }
        for (index, c) in w.bins {
            s.add_to_bin(index, c);
        }
        s.count = w.count;
        s.zero_count = w.zero_count;
        s.sum = w.sum;
        s.min = w.min.unwrap_or(f64::INFINITY);
        s.max = w.max.unwrap_or(f64::NEG_INFINITY);
        s.rejected = w.rejected;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_two_are_exact() {
        for e in -1022..=1023 {
            assert_eq!(power_of_two(f64::from(e)), f64::from(e).exp2(), "2^{e}");
        }
        assert_eq!(power_of_two(1024.0), f64::INFINITY);
        assert_eq!(power_of_two(-1023.0), 0.0);
    }

    #[test]
    fn every_value_maps_within_the_accuracy() {
        for alpha in [0.001, 0.01, 0.05] {
            let s = DDSketch::new(alpha, 2048);
            let mut x = 1e-6_f64;
            while x < 1e9 {
                for v in [x, x * (1.0 + 1e-12), x.next_up(), x * 1.5] {
                    let estimate = s.value_of(s.index_of(v));
                    let err = (estimate - v).abs() / v;
                    assert!(
                        err <= alpha * (1.0 + 1e-9),
                        "alpha {alpha}, value {v}: {estimate} ({err})"
                    );
                }
                x *= 1.0137;
            }
        }
    }

    #[test]
    fn hostile_snapshots_are_refused_not_allocated_or_overflowed() {
        let wire = |max_bins: u64, accuracy: f64, bins: &str, count: u64| {
            format!(
                r#"{{"mapping":"{MAPPING}","relativeAccuracy":{accuracy},"maxBins":{max_bins},"count":{count},"zeroCount":0,"sum":1.0,"min":1.0,"max":1.0,"bins":{bins}}}"#
            )
        };
        let refused = |text: String, why: &str| {
            let e = serde_json::from_str::<DDSketch>(&text).expect_err(why);
            assert!(e.to_string().contains(why), "{e}");
        };
        refused(wire(1 << 40, 0.01, "[[1,1]]", 1), "maxBins");
        refused(wire(2048, 1e-300, "[[1,1]]", 1), "relativeAccuracy");
        refused(
            wire(2048, 0.01, "[[2147483647,1],[-2147483648,1]]", 2),
            "bin index",
        );
        refused(
            wire(2048, 0.01, "[[1,18446744073709551615],[2,1]]", 0),
            "does not match",
        );
        // A valid one still decodes, and merging huge counts saturates instead of panicking.
        let mut a: DDSketch =
            serde_json::from_str(&wire(2048, 0.01, "[[10,18446744073709551615]]", u64::MAX))
                .expect("valid");
        let b = a.clone();
        a.merge(&b).expect("same accuracy");
        assert_eq!(a.count, u64::MAX);
    }

    #[test]
    fn since_gives_the_recent_window() {
        let mut s = DDSketch::default();
        for v in 1..=1000 {
            s.add(f64::from(v));
        }
        let earlier = s.clone();
        for _ in 0..100 {
            s.add(5000.0);
        }
        let window = s.since(&earlier);
        assert_eq!(window.count(), 100);
        let p50 = window.quantile(0.5).unwrap();
        assert!((p50 - 5000.0).abs() / 5000.0 <= 0.01, "{p50}");
        assert_eq!(s.since(&s).count(), 0);
        assert_eq!(s.since(&DDSketch::default()).count(), s.count());
    }

    #[test]
    fn empty_and_single() {
        let mut s = DDSketch::default();
        assert_eq!(s.quantile(0.5), None);
        s.add(42.0);
        let q = s.quantile(0.5).unwrap();
        assert!((q - 42.0).abs() / 42.0 <= 0.01, "{q}");
        assert_eq!(s.min(), Some(42.0));
        s.add(-1.0);
        s.add(f64::NAN);
        assert_eq!(s.count(), 1);
    }

    #[test]
    fn zero_values_and_round_trip() {
        let mut s = DDSketch::default();
        for v in [0.0, 0.0, 1.0, 2.0, 1000.0] {
            s.add(v);
        }
        assert_eq!(s.quantile(0.0), Some(0.0));
        let json = serde_json::to_string(&s).unwrap();
        let back: DDSketch = serde_json::from_str(&json).unwrap();
        assert_eq!(back.quantile(0.99), s.quantile(0.99));
        assert_eq!(back.count(), 5);
        let bad = json.replace("\"count\":5", "\"count\":6");
        assert!(serde_json::from_str::<DDSketch>(&bad).is_err());
    }

    #[test]
    fn bounded_bins_keep_high_quantiles() {
        let mut s = DDSketch::new(0.01, 64);
        for i in 0..100_000 {
            s.add(1e-6 * 1.001f64.powi(i % 20_000));
        }
        assert!(s.bins.len() <= 64);
        let exact_max = 1e-6 * 1.001f64.powi(19_999);
        let p100 = s.quantile(1.0).unwrap();
        assert!(
            (p100 - exact_max).abs() / exact_max <= 0.01,
            "{p100} vs {exact_max}"
        );
    }
}
