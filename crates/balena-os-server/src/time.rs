//! Timestamps as the catalog stores and prints them.
//!
//! Every date is kept as whole milliseconds since the Unix epoch (a 64-bit
//! integer column on both backends, so comparisons and ordering behave the
//! same on SQLite and PostgreSQL) and printed the way balena's API prints
//! dates: ISO-8601 in UTC with exactly three fractional digits and `Z`
//! (`2026-11-29T09:31:06.304Z`).
//!
//! Only the proleptic Gregorian calendar between the years 0000 and 9999 is
//! supported: that is what the four-digit ISO form can express.

use std::time::{SystemTime, UNIX_EPOCH};

/// Smallest supported timestamp: `0000-01-01T00:00:00.000Z`.
pub const MIN_MILLIS: i64 = -62_167_219_200_000;
/// Largest supported timestamp: `9999-12-31T23:59:59.999Z`.
pub const MAX_MILLIS: i64 = 253_402_300_799_999;

/// The current time in milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(MAX_MILLIS),
        Err(_) => 0,
    }
}

/// Days since 1970-01-01 for a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date for a count of days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        _ => 28,
    }
}

/// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
///
/// Values outside [`MIN_MILLIS`]..=[`MAX_MILLIS`] are clamped into it.
///
/// ```
/// assert_eq!(
///     balena_os_server::time::format_millis(1_795_944_666_648),
///     "2026-11-29T09:31:06.648Z"
/// );
/// ```
pub fn format_millis(millis: i64) -> String {
    let mut out = String::with_capacity(24);
    write_millis(&mut out, millis);
    out
}

/// Appends the ISO form of `millis` (see [`format_millis`]) to `out`.
pub fn write_millis(out: &mut String, millis: i64) {
    let millis = millis.clamp(MIN_MILLIS, MAX_MILLIS);
    let days = millis.div_euclid(86_400_000);
    let rest = millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, ms) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    use std::fmt::Write;
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z"
    );
}

/// Why a date literal was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date '{input}': {reason}")]
pub struct DateParseError {
    /// The text that was given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parses an ISO-8601 date or date-time into milliseconds since the epoch.
///
/// Accepted: `YYYY-MM-DD`, and `YYYY-MM-DDTHH:MM[:SS[.fff…]]` followed by `Z`,
/// `±HH:MM`, `±HHMM` or nothing (UTC). A space may stand for the `T`.
/// Fractions beyond milliseconds are truncated.
///
/// ```
/// use balena_os_server::time::parse_iso;
/// assert_eq!(parse_iso("2020-01-01T00:00:00Z"), Ok(1_577_836_800_000));
/// assert_eq!(parse_iso("2020-01-01T01:00:00.5+01:00"), Ok(1_577_836_800_500));
/// assert!(parse_iso("2020-02-30").is_err());
/// ```
pub fn parse_iso(input: &str) -> Result<i64, DateParseError> {
    let err = |reason| DateParseError {
        input: input.chars().take(64).collect(),
        reason,
    };
    let b = input.as_bytes();
    let mut pos = 0usize;
    let num = |pos: &mut usize, len: usize| -> Option<i64> {
        let slice = b.get(*pos..*pos + len)?;
        if !slice.iter().all(u8::is_ascii_digit) {
            return None;
        }
        *pos += len;
        Some(
            slice
                .iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')),
        )
    };
    let expect = |pos: &mut usize, c: u8| -> bool {
        if b.get(*pos) == Some(&c) {
            *pos += 1;
            true
        } else {
            false
        }
    };
    let year = num(&mut pos, 4).ok_or_else(|| err("expected a four-digit year"))?;
    if !expect(&mut pos, b'-') {
        return Err(err("expected '-' after the year"));
    }
    let month = num(&mut pos, 2).ok_or_else(|| err("expected a two-digit month"))?;
    if !expect(&mut pos, b'-') {
        return Err(err("expected '-' after the month"));
    }
    let day = num(&mut pos, 2).ok_or_else(|| err("expected a two-digit day"))?;
    if !(1..=12).contains(&month) {
        return Err(err("month out of range"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(err("day out of range"));
    }
    let mut millis = days_from_civil(year, month, day) * 86_400_000;
    if pos == b.len() {
        return Ok(millis);
    }
    if !(expect(&mut pos, b'T') || expect(&mut pos, b't') || expect(&mut pos, b' ')) {
        return Err(err("expected 'T' between date and time"));
    }
    let hour = num(&mut pos, 2).ok_or_else(|| err("expected a two-digit hour"))?;
    if !expect(&mut pos, b':') {
        return Err(err("expected ':' after the hour"));
    }
    let minute = num(&mut pos, 2).ok_or_else(|| err("expected two-digit minutes"))?;
    let mut second = 0;
    let mut fraction_ms = 0;
    if expect(&mut pos, b':') {
        second = num(&mut pos, 2).ok_or_else(|| err("expected two-digit seconds"))?;
        if expect(&mut pos, b'.') {
            let start = pos;
            while b.get(pos).is_some_and(u8::is_ascii_digit) {
                pos += 1;
            }
            if pos == start {
                return Err(err("expected digits after '.'"));
            }
            let digits = &b[start..pos.min(start + 3)];
            let mut value = digits
                .iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
            for _ in digits.len()..3 {
                value *= 10;
            }
            fraction_ms = value;
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(err("time out of range"));
    }
    millis += ((hour * 60 + minute) * 60 + second) * 1000 + fraction_ms;
    match b.get(pos) {
        None => {}
        Some(b'Z' | b'z') => {
            pos += 1;
        }
        Some(&sign @ (b'+' | b'-')) => {
            pos += 1;
            let oh = num(&mut pos, 2).ok_or_else(|| err("expected a two-digit offset hour"))?;
            expect(&mut pos, b':');
            let om = num(&mut pos, 2).ok_or_else(|| err("expected two-digit offset minutes"))?;
            if oh > 23 || om > 59 {
                return Err(err("offset out of range"));
            }
            let offset = (oh * 60 + om) * 60_000;
            millis = if sign == b'+' {
                millis - offset
            } else {
                millis + offset
            };
        }
        Some(_) => return Err(err("unexpected text after the time")),
    }
    if pos != b.len() {
        return Err(err("unexpected text after the time zone"));
    }
    Ok(millis.clamp(MIN_MILLIS, MAX_MILLIS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(1_795_944_666_648), "2026-11-29T09:31:06.648Z");
        assert_eq!(format_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_millis(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_millis(MAX_MILLIS), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_millis(MIN_MILLIS), "0000-01-01T00:00:00.000Z");
        assert_eq!(format_millis(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_millis(i64::MIN), "0000-01-01T00:00:00.000Z");
    }

    #[test]
    fn parse_round_trips_format() {
        for ms in [
            0,
            1,
            -1,
            1_795_944_666_648,
            951_782_400_000,
            MAX_MILLIS,
            MIN_MILLIS,
            1_704_153_600_123,
        ] {
            assert_eq!(parse_iso(&format_millis(ms)), Ok(ms), "{ms}");
        }
    }

    #[test]
    fn parses_variants() {
        assert_eq!(parse_iso("2024-01-02"), Ok(1_704_153_600_000));
        assert_eq!(parse_iso("2024-01-02T00:00"), Ok(1_704_153_600_000));
        assert_eq!(parse_iso("2024-01-02 00:00:00"), Ok(1_704_153_600_000));
        assert_eq!(
            parse_iso("2024-01-02T00:00:00.123456Z"),
            Ok(1_704_153_600_123)
        );
        assert_eq!(parse_iso("2024-01-02T02:00:00+0200"), Ok(1_704_153_600_000));
        assert_eq!(
            parse_iso("2024-01-01T22:00:00-02:00"),
            Ok(1_704_153_600_000)
        );
    }

    #[test]
    fn rejects_bad_dates() {
        for bad in [
            "",
            "2024",
            "2024-13-01",
            "2023-02-29",
            "2024-01-01T24:00",
            "2024-01-01T10:00:00.Z",
            "2024-01-01T10:00:00Zjunk",
            "2024-01-01X10:00",
            "２０２４-01-01",
            "2024-01-01T10:00:00+99:00",
        ] {
            assert!(parse_iso(bad).is_err(), "{bad}");
        }
    }
}
