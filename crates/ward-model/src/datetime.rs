//! Lexical checks for FHIR R4 `date`, `dateTime`, `instant` and `time` (datatypes.html).
//!
//! Hand-written equivalents of the R4 regexes, plus calendar validity (no 30 February).

/// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`; year 0001–9999.
pub(crate) fn is_date(s: &str) -> bool {
    date_prefix(s.as_bytes()) == Some(s.len())
}

/// A date, or `YYYY-MM-DDThh:mm:ss[.fff…](Z|±hh:mm)`: a time requires a timezone.
pub(crate) fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    match date_prefix(b) {
        Some(n) if n == b.len() => true,
        Some(10) => b.get(10) == Some(&b'T') && time_zone_suffix(b.get(11..).unwrap_or_default()),
        _ => false,
    }
}

/// `YYYY-MM-DDThh:mm:ss[.fff…](Z|±hh:mm)`: full precision with timezone.
pub(crate) fn is_instant(s: &str) -> bool {
    let b = s.as_bytes();
    date_prefix(b) == Some(10)
        && b.get(10) == Some(&b'T')
        && time_zone_suffix(b.get(11..).unwrap_or_default())
}

/// `hh:mm:ss[.fff…]`, no timezone.
pub(crate) fn is_time(s: &str) -> bool {
    time_prefix(s.as_bytes()) == Some(s.len())
}

/// Length of the valid date at the start of `b` (4, 7 or 10), if any.
fn date_prefix(b: &[u8]) -> Option<usize> {
    let year = digits(b, 0, 4)?;
    if year == 0 {
        return None;
    }
    match b.get(4) {
        None | Some(b'T') => return (b.len() == 4).then_some(4),
        Some(b'-') => {}
        Some(_) => return None,
    }
    let month = digits(b, 5, 2)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    match b.get(7) {
        None => return Some(7),
        Some(b'-') => {}
        Some(_) => return None,
    }
    let day = digits(b, 8, 2)?;
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(10)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Length of a valid `hh:mm:ss[.f+]` at the start of `b`.
fn time_prefix(b: &[u8]) -> Option<usize> {
    let (h, m, s) = (digits(b, 0, 2)?, digits(b, 3, 2)?, digits(b, 6, 2)?);
    if b.get(2) != Some(&b':') || b.get(5) != Some(&b':') || h > 23 || m > 59 || s > 60 {
        return None;
    }
    if b.get(8) != Some(&b'.') {
        return Some(8);
    }
    let frac = b
        .get(9..)?
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    (frac > 0).then_some(9 + frac)
}

/// `hh:mm:ss[.f+]` followed by `Z` or `±hh:mm` (offset up to 14:00), and nothing else.
fn time_zone_suffix(b: &[u8]) -> bool {
    let Some(n) = time_prefix(b) else {
        return false;
    };
    match b.get(n..).unwrap_or_default() {
        [b'Z'] => true,
        [b'+' | b'-', rest @ ..] if rest.len() == 5 => {
            let (Some(h), Some(m)) = (digits(rest, 0, 2), digits(rest, 3, 2)) else {
                return false;
            };
            rest.get(2) == Some(&b':') && m <= 59 && (h <= 13 || (h == 14 && m == 0))
        }
        _ => false,
    }
}

/// Decimal value of `len` ASCII digits at `b[at..]`.
fn digits(b: &[u8], at: usize, len: usize) -> Option<u32> {
    b.get(at..at + len)?.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        for ok in [
            "2020",
            "2020-02",
            "2020-02-29",
            "2000-02-29",
            "0001-01-01",
            "9999-12-31",
        ] {
            assert!(is_date(ok), "{ok}");
        }
        for bad in [
            "0000",
            "20",
            "2020-13-01",
            "2020-00",
            "2020-02-30",
            "1900-02-29",
            "2020-1-01",
            "2020-01-01T10:00:00Z",
            "2020-01-1",
            "2020/01/01",
            "",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
    }

    #[test]
    fn date_times() {
        for ok in [
            "2020",
            "2020-05",
            "2020-05-06",
            "2015-02-07T13:28:17-05:00",
            "2015-02-07T13:28:17.239+02:00",
            "2017-01-01T00:00:00Z",
            "2017-01-01T23:59:60+14:00",
        ] {
            assert!(is_date_time(ok), "{ok}");
        }
        for bad in [
            "2015-02-07T13:28:17",
            "2015-02-07T13:28Z",
            "2015-02-07T24:00:00Z",
            "2015-02-07T13:28:17+14:30",
            "2015-02-07T13:28:17.Z",
            "2015-02-07 13:28:17Z",
            "2015-02-07T13:28:17+0500",
            "2020T10:00:00Z",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
    }

    #[test]
    fn instants_and_times() {
        assert!(is_instant("2015-02-07T13:28:17.239+02:00"));
        assert!(is_instant("2015-02-07T13:28:17Z"));
        assert!(!is_instant("2015-02-07"));
        assert!(!is_instant("2015-02-07T13:28:17"));
        assert!(is_time("13:28:17"));
        assert!(is_time("00:00:00.5"));
        assert!(!is_time("13:28"));
        assert!(!is_time("13:28:17Z"));
        assert!(!is_time("25:00:00"));
    }
}
