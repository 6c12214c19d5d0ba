//! RFC 3339 timestamps held as milliseconds since the Unix epoch (UTC).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, millisecond precision, UTC. Serializes as `2026-01-02T03:04:05.678Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Parses RFC 3339 (`T` or space separator, optional fraction, `Z` or `±HH:MM`).
    pub fn parse(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() < 20 {
            return None;
        }
        let year = digits(b, 0, 4)?;
        let month = digits(b, 5, 2)?;
        let day = digits(b, 8, 2)?;
        let hour = digits(b, 11, 2)?;
        let minute = digits(b, 14, 2)?;
        let second = digits(b, 17, 2)?;
        if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        // 60 allows a leap second, folded into the next second as most parsers do.
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut pos = 19;
        let mut millis = 0i64;
        if b.get(pos) == Some(&b'.') {
            pos += 1;
            let start = pos;
            while pos < b.len() && b[pos].is_ascii_digit() {
                if pos - start < 3 {
                    millis = millis * 10 + i64::from(b[pos] - b'0');
                }
                pos += 1;
            }
            let n = pos - start;
            if n == 0 {
                return None;
            }
            for _ in n..3 {
                millis *= 10;
            }
        }
        let offset_minutes = match b.get(pos) {
            Some(b'Z' | b'z') if pos + 1 == b.len() => 0,
            Some(sign @ (b'+' | b'-')) if pos + 6 == b.len() && b[pos + 3] == b':' => {
                let oh = digits(b, pos + 1, 2)?;
                let om = digits(b, pos + 4, 2)?;
                if oh > 23 || om > 59 {
                    return None;
                }
                let m = oh * 60 + om;
                if *sign == b'-' {
                    -m
                } else {
                    m
                }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
        Some(Self(secs * 1000 + millis))
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` for years 0..=9999 (every timestamp that passes
    /// validation), written digit by digit: this runs for every event.
    pub(crate) fn fixed_width(self) -> Option<[u8; 24]> {
        let ms = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let mut out = *b"0000-00-00T00:00:00.000Z";
        out[..10].copy_from_slice(&date_text(days)?);
        let mut put = |at: usize, width: usize, mut v: i64| {
            for i in (0..width).rev() {
                out[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(11, 2, sod / 3600);
        put(14, 2, (sod / 60) % 60);
        put(17, 2, sod % 60);
        put(20, 3, ms);
        Some(out)
    }

    fn write_to(self, out: &mut impl fmt::Write) -> fmt::Result {
        if let Some(bytes) = self.fixed_width() {
            return out.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?);
        }
        let ms = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        let sod = secs.rem_euclid(86_400);
        write!(
            out,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(bytes) = self.fixed_width() {
            let text = std::str::from_utf8(&bytes).map_err(serde::ser::Error::custom)?;
            return serializer.serialize_str(text);
        }
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 timestamp: {text}")))
    }
}

thread_local! {
    /// The last day formatted on this thread: events arrive in bursts on the same day, and
    /// the calendar arithmetic is the dearest part of formatting a timestamp.
    static LAST_DATE: std::cell::Cell<(i64, [u8; 10])> = const { std::cell::Cell::new((i64::MIN, [0; 10])) };
}

/// `YYYY-MM-DD` of the given day since the epoch, for years 0..=9999.
fn date_text(days: i64) -> Option<[u8; 10]> {
    let (cached_day, cached) = LAST_DATE.with(std::cell::Cell::get);
    if cached_day == days {
        return Some(cached);
    }
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return None;
    }
    let mut out = *b"0000-00-00";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y);
    put(5, 2, m);
    put(8, 2, d);
    LAST_DATE.with(|c| c.set((days, out)));
    Some(out)
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let mut v = 0i64;
    for &c in b.get(at..at + n)? {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil calendar algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for ms in [
            0i64,
            1_700_000_000_123,
            951_782_400_000,
            -86_400_000,
            4_102_444_800_999,
        ] {
            let t = Timestamp(ms);
            assert_eq!(Timestamp::parse(&t.to_string()), Some(t), "{t}");
        }
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000Z");
    }

    /// The calendar counted the slow way (whole 400-year cycles, then year by year and
    /// month by month), so the reference shares no arithmetic with `civil_from_days`.
    fn calendar_date(days_since_epoch: i64) -> (i64, i64, i64) {
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        // Every 400 consecutive years starting on 1 January hold 146,097 days.
        let mut year = 1970 + 400 * days_since_epoch.div_euclid(146_097);
        let mut rest = days_since_epoch.rem_euclid(146_097);
        while rest >= if leap(year) { 366 } else { 365 } {
            rest -= if leap(year) { 366 } else { 365 };
            year += 1;
        }
        let february = if leap(year) { 29 } else { 28 };
        let mut month = 1;
        for length in [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] {
            if rest < length {
                break;
            }
            rest -= length;
            month += 1;
        }
        (year, month, rest + 1)
    }

    #[test]
    fn known_dates() {
        for (ms, text) in [
            (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (-86_400_000, "1969-12-31T00:00:00.000Z"),
            (4_102_444_800_999, "2100-01-01T00:00:00.999Z"),
            (-2_208_988_800_000, "1900-01-01T00:00:00.000Z"),
        ] {
            assert_eq!(Timestamp(ms).to_string(), text);
            assert_eq!(Timestamp::parse(text), Some(Timestamp(ms)));
        }
    }

    #[test]
    fn cached_dates_match_the_calendar() {
        let reference = |ms: i64| {
            let secs = ms.div_euclid(1000);
            let (y, m, d) = calendar_date(secs.div_euclid(86_400));
            let sod = secs.rem_euclid(86_400);
            format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
                sod / 3600,
                (sod / 60) % 60,
                sod % 60,
                ms.rem_euclid(1000)
            )
        };
        let mut x: i64 = 1_234_567;
        for _ in 0..20_000 {
            // Jumps between nearby and distant days so the cache is both hit and missed.
            x = (x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1))
                .rem_euclid(253_402_300_799_999);
            for ms in [x, x + 1, x + 86_400_000] {
                assert_eq!(Timestamp(ms).to_string(), reference(ms));
            }
        }
        assert_eq!(
            Timestamp(253_402_300_800_000).to_string(),
            "10000-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn parses_offsets_and_fractions() {
        let base = Timestamp::parse("2024-02-29T12:00:00Z").unwrap();
        assert_eq!(Timestamp::parse("2024-02-29T14:00:00+02:00"), Some(base));
        assert_eq!(
            Timestamp::parse("2024-02-29T12:00:00.5Z").unwrap().0 - base.0,
            500
        );
        assert_eq!(
            Timestamp::parse("2024-02-29T12:00:00.123456789Z")
                .unwrap()
                .0
                - base.0,
            123
        );
        for bad in [
            "2023-02-29T12:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "yesterday",
            "2024-01-01T25:00:00Z",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }
}
