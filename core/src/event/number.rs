//! Number text both ways: JSON number text to the nearest `f64` (as `str::parse` reads it)
//! and an `f64` to the shortest text that reads back to it (as serde_json writes it). With
//! the feature `builtin-float-text` (on by default) Rust does both: std's parser and
//! serde_json's formatter. Without it, which is how the browser is built (their code and
//! tables are about 16 KB of the `.wasm`'s gzip), the usual numbers take exact fast paths
//! here and the rest go to the host (the browser binding registers the page's `parseFloat`
//! and `Number.prototype.toExponential`, which ECMAScript defines with the same rounding and
//! the same shortest digits).

#[cfg(not(feature = "builtin-float-text"))]
use std::sync::OnceLock;

/// A host's number text, for builds without `builtin-float-text`.
#[derive(Clone, Copy)]
pub struct FloatText {
    /// Decimal number text (JSON grammar, already checked) to the nearest `f64`.
    pub parse: fn(&str) -> f64,
    /// A finite `f64` as `Number.prototype.toExponential()` writes it: the shortest digits
    /// that read back to it, as `d.ddde+x` or `de-x`.
    pub exponential: fn(f64) -> String,
}

#[cfg(not(feature = "builtin-float-text"))]
static HOST: OnceLock<FloatText> = OnceLock::new();

/// Registers the host's number text for builds without `builtin-float-text` (with it,
/// Rust's own is used and this one is not). Only the first registration counts; returns
/// whether this one did.
pub fn set_float_text(host: FloatText) -> bool {
    #[cfg(not(feature = "builtin-float-text"))]
    {
        HOST.set(host).is_ok()
    }
    #[cfg(feature = "builtin-float-text")]
    {
        let _ = host;
        false
    }
}

/// `text` (a JSON number) as the nearest `f64`; infinite when out of range, as
/// `str::parse` gives. `None` only when nothing can read it (a build without
/// `builtin-float-text` whose host registered nothing).
pub(crate) fn parse_f64(text: &str) -> Option<f64> {
    #[cfg(feature = "builtin-float-text")]
    {
        text.parse().ok()
    }
    #[cfg(not(feature = "builtin-float-text"))]
    {
        fast_path(text).or_else(|| HOST.get().map(|host| (host.parse)(text)))
    }
}

/// A finite `x` as serde_json writes it: `100.0`, `0.00001234`, `1.5e-7`, `1e+21`.
pub(crate) fn write_finite_f64(x: f64, out: &mut Vec<u8>) {
    #[cfg(feature = "builtin-float-text")]
    {
        let _ = serde_json::to_writer(&mut *out, &x);
    }
    #[cfg(not(feature = "builtin-float-text"))]
    {
        if x.is_sign_negative() {
            out.push(b'-');
        }
        let x = x.abs();
        match short_decimal(x) {
            Some((digits, fraction)) => write_decimal(digits, fraction, out),
            None => match HOST.get() {
                Some(host) => write_exponential(&(host.exponential)(x), out),
                // Nothing registered to write it: no number is better than a wrong one.
                None => out.extend_from_slice(b"null"),
            },
        }
    }
}

/// `x` (positive) as `digits / 10^fraction` with `fraction` at most 3, the fewest that read
/// back exactly, when `x` is below 2^33: there the next `fraction`-digit number is more than
/// an ulp away, so the text is the shortest and the closest, as serde_json's. `None` for the
/// rest.
#[cfg_attr(feature = "builtin-float-text", allow(dead_code))]
fn short_decimal(x: f64) -> Option<(u64, usize)> {
    if x >= (1u64 << 33) as f64 {
        return None;
    }
    (0..=3).find_map(|fraction| {
        let digits = (x * POW10[fraction]).round();
        (digits / POW10[fraction] == x).then_some((digits as u64, fraction))
    })
}

/// `digits / 10^fraction` in serde_json's decimal layout (`12.5`, `100.0`, `0.001`).
#[cfg_attr(feature = "builtin-float-text", allow(dead_code))]
fn write_decimal(digits: u64, fraction: usize, out: &mut Vec<u8>) {
    let scale = 10u64.pow(fraction as u32);
    super::json::write_u64(digits / scale, out);
    out.push(b'.');
    if fraction == 0 {
        out.push(b'0');
    } else {
        let start = out.len();
        super::json::write_u64(scale + digits % scale, out);
        // `scale +` kept the leading zeros; drop its own leading 1.
        out.remove(start);
    }
}

/// ECMAScript's exponential text (`d.ddde+x`) in serde_json's layout: decimal for
/// exponents -5 to 15, else as it is (both write `1.5e-7` and `1e+21`).
#[cfg_attr(feature = "builtin-float-text", allow(dead_code))]
fn write_exponential(text: &str, out: &mut Vec<u8>) {
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text, "+0"));
    let exponent: i32 = exponent
        .strip_prefix('+')
        .unwrap_or(exponent)
        .parse()
        .unwrap_or(0);
    if !(-5..=15).contains(&exponent) {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    if exponent < 0 {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + (-exponent - 1) as usize, b'0');
        out.extend_from_slice(&digits);
        return;
    }
    let whole = exponent as usize + 1;
    for i in 0..whole.max(digits.len()) {
        if i == whole {
            out.push(b'.');
        }
        out.push(digits.get(i).copied().unwrap_or(b'0'));
    }
    if digits.len() <= whole {
        out.extend_from_slice(b".0");
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
#[cfg_attr(feature = "builtin-float-text", allow(dead_code))]
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
    // The loop stops early only at an exponent marker.
    if rest.get(i).is_some() {
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

    /// serde_json's text for `x` (positive) as ECMAScript's `toExponential()` writes the same
    /// digits: `100.0` is `1e+2`, `0.00001234` is `1.234e-5`. Both choose the digits by the
    /// same rule (shortest, then closest, then even), so only the layout is ours to test.
    fn as_exponential(json: &str) -> String {
        if json.contains('e') {
            return json.to_owned();
        }
        let (whole, fraction) = json.split_once('.').unwrap();
        let all = format!("{whole}{fraction}");
        let first = all.find(|c| c != '0').unwrap_or(all.len() - 1);
        let digits = all[first..].trim_end_matches('0');
        let digits = if digits.is_empty() { "0" } else { digits };
        let exponent = whole.len() as i32 - 1 - first as i32;
        let exponent = if json == "0.0" { 0 } else { exponent };
        let mantissa = match digits.split_at(1) {
            (lead, "") => lead.to_owned(),
            (lead, rest) => format!("{lead}.{rest}"),
        };
        format!(
            "{mantissa}e{}{exponent}",
            if exponent >= 0 { "+" } else { "" }
        )
    }

    /// What the host path writes for `x`: the fast decimal, or the host's exponential text
    /// laid out as serde_json does.
    fn host_text(x: f64) -> String {
        let mut out = Vec::new();
        if x.is_sign_negative() {
            out.push(b'-');
        }
        match short_decimal(x.abs()) {
            Some((digits, fraction)) => write_decimal(digits, fraction, &mut out),
            None => write_exponential(
                &as_exponential(&serde_json::to_string(&x.abs()).unwrap()),
                &mut out,
            ),
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_hosts_text_is_laid_out_as_serde_json_writes_it() {
        for x in [
            0.0,
            -0.0,
            1.0,
            100.0,
            12.5,
            0.001,
            0.1,
            9.99,
            812.5,
            0.30000000000000004,
            1e15,
            1e16,
            1.5e16,
            1e21,
            1.5e-7,
            1e-5,
            1.234e-5,
            1e-6,
            5e-324,
            f64::MAX,
            8589934591.875,
            8589934592.5,
            123456789012345680.0,
            9007199254740993.0,
        ] {
            assert_eq!(host_text(x), serde_json::to_string(&x).unwrap(), "{x:e}");
        }
    }

    proptest! {
        #[test]
        fn the_hosts_text_matches_serde_json_for_any_float(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
            prop_assert_eq!(host_text(x), serde_json::to_string(&x).unwrap());
        }

        #[test]
        fn short_decimals_match_serde_json(cents in 0u64..(1 << 40), fraction in 0u32..4) {
            let x = cents as f64 / 10f64.powi(fraction as i32);
            prop_assert_eq!(host_text(x), serde_json::to_string(&x).unwrap());
        }

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
