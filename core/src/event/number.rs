//! JSON number text to `f64`, rounded to nearest as `str::parse` does. With the feature
//! `std-float-parser` (on by default) that is `str::parse`. Without it, which is how the
//! browser is built (std's exact parser and its tables are about 14 KB of the `.wasm`'s
//! gzip), the usual numbers take Clinger's fast path here and the rest go to a parser the
//! host registers (the browser binding registers the page's `parseFloat`).

#[cfg(not(feature = "std-float-parser"))]
use std::sync::OnceLock;

/// A host's exact parser of decimal number text (JSON grammar, already checked).
pub type FloatParser = fn(&str) -> f64;

#[cfg(not(feature = "std-float-parser"))]
static HOST_PARSER: OnceLock<FloatParser> = OnceLock::new();

/// Registers the host's float parser for builds without `std-float-parser` (with it, std's
/// is used and this one is not). Only the first registration counts; returns whether this
/// one did.
pub fn set_float_parser(parser: FloatParser) -> bool {
    #[cfg(not(feature = "std-float-parser"))]
    {
        HOST_PARSER.set(parser).is_ok()
    }
    #[cfg(feature = "std-float-parser")]
    {
        let _ = parser;
        false
    }
}

/// `text` (a JSON number) as the nearest `f64`; infinite when out of range, as
/// `str::parse` gives. `None` only when no parser is available for it (a build without
/// `std-float-parser` whose host registered none).
pub(crate) fn parse_f64(text: &str) -> Option<f64> {
    #[cfg(feature = "std-float-parser")]
    {
        text.parse().ok()
    }
    #[cfg(not(feature = "std-float-parser"))]
    {
        fast_path(text).or_else(|| HOST_PARSER.get().map(|parse| parse(text)))
    }
}

/// Exact powers of ten representable in an `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Clinger's fast path: when the digits fit in 53 bits and the power of ten is exact, one
/// IEEE multiplication or division rounds correctly. Covers prices, durations and
/// coordinates; `None` for the rest.
#[cfg_attr(feature = "std-float-parser", allow(dead_code))]
pub(crate) fn fast_path(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let (negative, rest) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    let mut mantissa: u64 = 0;
    let mut exponent: i64 = 0;
    let mut digits = 0;
    let mut i = 0;
    let mut fraction = false;
    while let Some(&b) = rest.get(i) {
        match b {
            b'0'..=b'9' => {
                if mantissa != 0 || b != b'0' {
                    digits += 1;
                }
                if digits > 19 {
                    return None;
                }
                mantissa = mantissa * 10 + u64::from(b - b'0');
                if fraction {
                    exponent -= 1;
                }
            }
            b'.' if !fraction => fraction = true,
            b'e' | b'E' => break,
            _ => return None,
        }
        i += 1;
    }
    if let Some(marker) = rest.get(i) {
        debug_assert!(matches!(marker, b'e' | b'E'));
        let written = std::str::from_utf8(rest.get(i + 1..)?).ok()?;
        let written: i64 = written.strip_prefix('+').unwrap_or(written).parse().ok()?;
        exponent = exponent.checked_add(written)?;
    }
    if mantissa >> 53 != 0 {
        return None;
    }
    let value = mantissa as f64;
    let value = if mantissa == 0 {
        0.0
    } else if (0..=22).contains(&exponent) {
        value * POW10[exponent as usize]
    } else if (-22..0).contains(&exponent) {
        value / POW10[(-exponent) as usize]
    } else {
        return None;
    };
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn agrees(text: &str) {
        if let Some(fast) = fast_path(text) {
            let exact: f64 = text.parse().unwrap();
            assert_eq!(fast.to_bits(), exact.to_bits(), "{text}");
        }
    }

    #[test]
    fn the_fast_path_takes_the_usual_numbers_and_leaves_the_rest() {
        for text in [
            "9.99", "812.5", "-0.1", "0", "-0", "-0.0", "1e22", "1.5E-7", "0.000001",
        ] {
            assert!(fast_path(text).is_some(), "{text}");
            agrees(text);
        }
        assert_eq!(fast_path("-0").map(f64::to_bits), Some((-0.0f64).to_bits()));
        // Past 2^53, beyond 10^22, or more than 19 digits: left to the exact parser.
        for text in [
            "9007199254740993",
            "1e23",
            "1e-23",
            "12345678901234567890.5",
            "1e400",
        ] {
            assert_eq!(fast_path(text), None, "{text}");
        }
    }

    proptest! {
        #[test]
        fn the_fast_path_is_exact(mantissa in 0u64..(1 << 53), exponent in -30i32..30, point in 0usize..20) {
            agrees(&format!("{mantissa}e{exponent}"));
            // The same digits with a decimal point inside them.
            let digits = mantissa.to_string();
            let at = point % digits.len();
            let whole = if at == 0 { "0" } else { &digits[..at] };
            agrees(&format!("{whole}.{}", &digits[at..]));
        }

        #[test]
        fn every_float_written_by_rust_reads_back(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
            agrees(&format!("{x:e}"));
            agrees(&format!("{x}"));
        }
    }
}
