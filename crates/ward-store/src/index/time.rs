//! Date and time values as half-open ranges `[lo, hi)` of microseconds since the epoch, sized by
//! the precision they were written with (`1970` covers the whole year). A value without a time
//! zone (a `date`, or a search value without an offset) is read as UTC.

/// Microseconds per second.
const US: i64 = 1_000_000;
/// Microseconds per day.
const DAY: i64 = 86_400 * US;

/// Lower bound used for an open start (e.g. a Period without `start`).
pub const MIN: i64 = i64::MIN;
/// Upper bound used for an open end.
pub const MAX: i64 = i64::MAX;

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn num(b: &[u8], at: usize, len: usize) -> Option<i64> {
    let digits = b.get(at..at + len)?;
    digits.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// Parses `Z`, `+hh:mm` or `-hh:mm` (the whole of `b`) into an offset in microseconds.
fn offset(b: &[u8]) -> Option<i64> {
    match b {
        [] | [b'Z'] => Some(0),
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let h = num(b, 1, 2).filter(|h| *h <= 14)?;
            let m = num(b, 4, 2).filter(|m| *m < 60)?;
            let off = (h * 3600 + m * 60) * US;
            Some(if *sign == b'-' { -off } else { off })
        }
        _ => None,
    }
}

/// Parses a FHIR `date`, `dateTime` or `instant`, or a search date value (which may stop at
/// any component: `2020-01-01T10`, `2020-01-01T10:30`), into `[lo, hi)`.
pub fn parse_range(s: &str) -> Option<(i64, i64)> {
    let b = s.as_bytes();
    let year = num(b, 0, 4)?;
    if year == 0 {
        return None;
    }
    let (month, day, rest) = match b.get(4) {
        None => {
            let lo = days_from_civil(year, 1, 1) * DAY;
            return Some((lo, days_from_civil(year + 1, 1, 1) * DAY));
        }
        Some(b'-') => {
            let month = num(b, 5, 2).filter(|m| (1..=12).contains(m))?;
            match b.get(7) {
                None => {
                    let lo = days_from_civil(year, month, 1) * DAY;
                    let (ny, nm) = if month == 12 {
                        (year + 1, 1)
                    } else {
                        (year, month + 1)
                    };
                    return Some((lo, days_from_civil(ny, nm, 1) * DAY));
                }
                Some(b'-') => {}
                Some(_) => return None,
            }
            let day = num(b, 8, 2).filter(|d| *d >= 1 && *d <= days_in_month(year, month))?;
            (month, day, b.get(10..).unwrap_or_default())
        }
        Some(_) => return None,
    };
    let midnight = days_from_civil(year, month, day) * DAY;
    match rest {
        [] => Some((midnight, midnight + DAY)),
        [b'T', clock @ ..] => {
            parse_clock(clock).map(|(lo, width)| (midnight + lo, midnight + lo + width))
        }
        _ => None,
    }
}

/// `hh[:mm[:ss[.f+]]]` then an optional zone: the offset into the day (UTC) and the width.
fn parse_clock(b: &[u8]) -> Option<(i64, i64)> {
    let h = num(b, 0, 2).filter(|h| *h < 24)?;
    let mut at = 2;
    let mut value = h * 3600 * US;
    let mut width = 3600 * US;
    if b.get(2) == Some(&b':') {
        value += num(b, 3, 2).filter(|m| *m < 60)? * 60 * US;
        width = 60 * US;
        at = 5;
        if b.get(5) == Some(&b':') {
            value += num(b, 6, 2).filter(|s| *s < 61)? * US;
            width = US;
            at = 8;
            if b.get(8) == Some(&b'.') {
                at = 9;
                let mut scale = US / 10;
                let mut digits = 0;
                while let Some(c) = b.get(at).filter(|c| c.is_ascii_digit()) {
                    value += i64::from(c - b'0') * scale;
                    if scale > 1 {
                        width = scale;
                    }
                    scale /= 10;
                    digits += 1;
                    at += 1;
                }
                if digits == 0 {
                    return None;
                }
            }
        }
    }
    let off = offset(b.get(at..).unwrap_or_default())?;
    Some((value - off, width))
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn day(d: i64) -> i64 {
        d * DAY
    }

    #[test]
    fn precisions() {
        assert_eq!(parse_range("1970"), Some((0, day(365))));
        assert_eq!(parse_range("1970-02"), Some((day(31), day(59))));
        assert_eq!(parse_range("1970-01-02"), Some((day(1), day(2))));
        assert_eq!(
            parse_range("1970-01-01T01:00:00Z"),
            Some((3600 * US, 3601 * US))
        );
        assert_eq!(
            parse_range("1970-01-01T01:00:00.5+01:00"),
            Some((US / 2, US / 2 + US / 10))
        );
        assert_eq!(
            parse_range("1970-01-01T10:30"),
            Some((37_800 * US, 37_860 * US))
        );
        assert_eq!(parse_range("2024-02-29"), Some((day(19_782), day(19_783))));
        assert!(parse_range("2023-02-29").is_none());
        assert!(parse_range("197").is_none());
        assert!(parse_range("1970-13").is_none());
        assert!(parse_range("1970-01-01T25:00").is_none());
        assert!(parse_range("1970-01-01T10:00+5").is_none());
        assert!(parse_range("1970-01-01x").is_none());
    }
}
