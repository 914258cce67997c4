//! Partial-precision Date, DateTime and Time values: parsing, formatting, comparison, arithmetic.
//!
//! A value remembers how precise it was written (`2015` is a year, `2015-02-04T10:30` a minute).
//! Comparing values of different precision yields "unknown" (`None`) once every shared component
//! is equal, as FHIRPath requires. Seconds and fractions of a second count as one precision.

use std::cmp::Ordering;
use std::fmt;

/// How much of a date/time value is present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Precision {
    /// `YYYY`
    Year,
    /// `YYYY-MM`
    Month,
    /// `YYYY-MM-DD`
    Day,
    /// `...THH`
    Hour,
    /// `...THH:MM`
    Minute,
    /// `...THH:MM:SS`
    Second,
    /// `...THH:MM:SS.fff`
    Millisecond,
}

/// A calendar date or a date-time (FHIRPath `Date` and `DateTime` share this shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    nanos: u32,
    frac_digits: u8,
    precision: Precision,
    /// Offset from UTC in minutes, when written.
    tz: Option<i16>,
}

/// A time of day (FHIRPath `Time`), without a time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Time {
    hour: u8,
    minute: u8,
    second: u8,
    nanos: u32,
    frac_digits: u8,
    precision: Precision,
}

/// Calendar units for date arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CalUnit {
    Year,
    Month,
    Week,
    Day,
    Hour,
    Minute,
    Second,
    Millisecond,
}

const NANOS_PER_MS: u32 = 1_000_000;

fn two(s: &str, at: usize) -> Option<u8> {
    let b = s.as_bytes();
    let (a, c) = (*b.get(at)?, *b.get(at + 1)?);
    if a.is_ascii_digit() && c.is_ascii_digit() {
        Some((a - b'0') * 10 + (c - b'0'))
    } else {
        None
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub(crate) fn days_in_month(y: i64, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u8::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u8::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Parses `HH(:MM(:SS(.f+)?)?)?`, returning the parts and how many bytes were used.
fn parse_clock(s: &str) -> Option<(u8, u8, u8, u32, u8, Precision, usize)> {
    let hour = two(s, 0).filter(|h| *h < 24)?;
    let (mut minute, mut second, mut nanos, mut digits) = (0, 0, 0u32, 0u8);
    let mut prec = Precision::Hour;
    let mut i = 2;
    if s.as_bytes().get(2) == Some(&b':') {
        minute = two(s, 3).filter(|m| *m < 60)?;
        prec = Precision::Minute;
        i = 5;
        if s.as_bytes().get(5) == Some(&b':') {
            second = two(s, 6).filter(|m| *m < 60)?;
            prec = Precision::Second;
            i = 8;
            if s.as_bytes().get(8) == Some(&b'.') {
                i = 9;
                let mut scale = 100_000_000u32;
                while let Some(c) = s.as_bytes().get(i).filter(|c| c.is_ascii_digit()) {
                    nanos += u32::from(c - b'0') * scale;
                    scale /= 10;
                    digits = digits.saturating_add(1);
                    i += 1;
                }
                if digits == 0 {
                    return None;
                }
                prec = Precision::Millisecond;
            }
        }
    }
    Some((hour, minute, second, nanos, digits, prec, i))
}

fn parse_tz(s: &str) -> Option<i16> {
    match s.as_bytes().first()? {
        b'Z' if s.len() == 1 => Some(0),
        sign @ (b'+' | b'-') if s.len() == 6 && s.as_bytes().get(3) == Some(&b':') => {
            let h = two(s, 1).filter(|h| *h <= 14)?;
            let m = two(s, 4).filter(|m| *m < 60)?;
            let total = i16::from(h) * 60 + i16::from(m);
            Some(if *sign == b'-' { -total } else { total })
        }
        _ => None,
    }
}

impl DateTime {
    /// Parses a FHIRPath/FHIR date: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    #[must_use]
    pub fn parse_date(s: &str) -> Option<Self> {
        let (dt, used) = Self::parse_date_prefix(s)?;
        (used == s.len()).then_some(dt)
    }

    fn parse_date_prefix(s: &str) -> Option<(Self, usize)> {
        let b = s.as_bytes();
        if b.len() < 4 || !b.iter().take(4).all(u8::is_ascii_digit) {
            return None;
        }
        let year = u16::try_from(i64::from(two(s, 0)?) * 100 + i64::from(two(s, 2)?)).ok()?;
        let mut dt = Self {
            year,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            nanos: 0,
            frac_digits: 0,
            precision: Precision::Year,
            tz: None,
        };
        if b.get(4) != Some(&b'-') {
            return Some((dt, 4));
        }
        dt.month = two(s, 5).filter(|m| (1..=12).contains(m))?;
        dt.precision = Precision::Month;
        if b.get(7) != Some(&b'-') {
            return Some((dt, 7));
        }
        dt.day = two(s, 8).filter(|d| *d >= 1 && *d <= days_in_month(i64::from(year), dt.month))?;
        dt.precision = Precision::Day;
        Some((dt, 10))
    }

    /// Parses a date-time: a date, optionally `T` and a time, optionally a zone (`Z`, `+10:00`).
    /// `2015T` (a year-precision date-time literal) is accepted.
    #[must_use]
    pub fn parse_datetime(s: &str) -> Option<Self> {
        let (mut dt, used) = Self::parse_date_prefix(s)?;
        let rest = s.get(used..)?;
        if rest.is_empty() {
            return Some(dt);
        }
        let rest = rest.strip_prefix('T')?;
        if rest.is_empty() {
            return Some(dt);
        }
        if dt.precision != Precision::Day {
            return None;
        }
        let (h, mi, sec, nanos, digits, prec, n) = parse_clock(rest)?;
        (
            dt.hour,
            dt.minute,
            dt.second,
            dt.nanos,
            dt.frac_digits,
            dt.precision,
        ) = (h, mi, sec, nanos, digits, prec);
        let zone = rest.get(n..)?;
        if !zone.is_empty() {
            dt.tz = Some(parse_tz(zone)?);
        }
        Some(dt)
    }

    /// Builds a date-time from parts (for the evaluation clock). Returns `None` when invalid.
    #[must_use]
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        millis: u16,
        tz_minutes: i16,
    ) -> Option<Self> {
        let ok = (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(i64::from(year), month)
            && hour < 24
            && minute < 60
            && second < 60
            && millis < 1000
            && tz_minutes.abs() <= 14 * 60;
        ok.then_some(Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
            nanos: u32::from(millis) * NANOS_PER_MS,
            frac_digits: 3,
            precision: Precision::Millisecond,
            tz: Some(tz_minutes),
        })
    }

    /// The precision this value was written with.
    #[must_use]
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Time-zone offset in minutes, if one was written.
    #[must_use]
    pub fn tz_offset(&self) -> Option<i16> {
        self.tz
    }

    /// The date part (day precision at most, no zone).
    #[must_use]
    pub fn date_part(&self) -> Self {
        let mut d = *self;
        d.precision = d.precision.min(Precision::Day);
        (d.hour, d.minute, d.second, d.nanos, d.frac_digits, d.tz) = (0, 0, 0, 0, 0, None);
        d
    }

    /// The time-of-day part, if this value has one.
    #[must_use]
    pub fn time_part(&self) -> Option<Time> {
        (self.precision >= Precision::Hour).then_some(Time {
            hour: self.hour,
            minute: self.minute,
            second: self.second,
            nanos: self.nanos,
            frac_digits: self.frac_digits,
            precision: self.precision,
        })
    }

    /// Whether this value carries a time (hour or finer).
    pub(crate) fn has_time(&self) -> bool {
        self.precision >= Precision::Hour
    }

    /// Writes the value as FHIR text, as a date-only value when `date_only`.
    pub(crate) fn fmt_with(&self, f: &mut dyn fmt::Write, date_only: bool) -> fmt::Result {
        write!(f, "{:04}", self.year)?;
        if self.precision >= Precision::Month {
            write!(f, "-{:02}", self.month)?;
        }
        if self.precision >= Precision::Day {
            write!(f, "-{:02}", self.day)?;
        }
        if date_only || self.precision < Precision::Hour {
            return Ok(());
        }
        f.write_char('T')?;
        fmt_clock(
            f,
            self.hour,
            self.minute,
            self.second,
            self.nanos,
            self.frac_digits,
            self.precision,
        )?;
        match self.tz {
            None => Ok(()),
            Some(0) => f.write_char('Z'),
            Some(m) => {
                let sign = if m < 0 { '-' } else { '+' };
                write!(f, "{sign}{:02}:{:02}", m.abs() / 60, m.abs() % 60)
            }
        }
    }

    /// Components used for comparison: year, month, day, hour, minute, (second, nanos).
    fn key(&self) -> [i64; 6] {
        [
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
            i64::from(self.hour),
            i64::from(self.minute),
            i64::from(self.second) * 1_000_000_000 + i64::from(self.nanos),
        ]
    }

    /// Shifts a value that has a time and a zone to UTC (keeping its precision).
    fn to_utc(self) -> Self {
        let Some(tz) = self.tz.filter(|_| self.has_time()) else {
            return self;
        };
        let mins = i64::from(self.hour) * 60 + i64::from(self.minute) - i64::from(tz);
        let days =
            days_from_civil(i64::from(self.year), self.month, self.day) + mins.div_euclid(1440);
        let m = mins.rem_euclid(1440);
        let (y, mo, d) = civil_from_days(days);
        let mut out = self;
        out.year = u16::try_from(y).unwrap_or(self.year);
        (out.month, out.day) = (mo, d);
        out.hour = u8::try_from(m / 60).unwrap_or(0);
        out.minute = u8::try_from(m % 60).unwrap_or(0);
        out.tz = Some(0);
        out
    }

    /// FHIRPath comparison; `None` when the result is unknown (precision or zone mismatch).
    #[must_use]
    pub fn compare(&self, other: &Self) -> Option<Ordering> {
        let (a, b) = if self.has_time() && other.has_time() {
            match (self.tz, other.tz) {
                (Some(_), Some(_)) => (self.to_utc(), other.to_utc()),
                (None, None) => (*self, *other),
                _ => return None,
            }
        } else {
            (*self, *other)
        };
        compare_keys(&a.key(), a.precision, &b.key(), b.precision)
    }

    /// Adds `amount` of `unit`, keeping the precision (calendar arithmetic; months clamp the day).
    pub(crate) fn add(&self, amount: i64, unit: CalUnit) -> Option<Self> {
        let mut out = *self;
        match unit {
            CalUnit::Year => out.add_months(amount.checked_mul(12)?)?,
            CalUnit::Month if self.precision == Precision::Year => {
                out.add_months(amount / 12 * 12)?
            }
            CalUnit::Month => out.add_months(amount)?,
            CalUnit::Week => return self.add(amount.checked_mul(7)?, CalUnit::Day),
            CalUnit::Day => match self.precision {
                Precision::Year => out.add_months(amount / 365 * 12)?,
                Precision::Month => out.add_months(amount / 30)?,
                _ => out.add_millis(amount.checked_mul(86_400_000)?)?,
            },
            _ if !self.has_time() => {
                let per_day = match unit {
                    CalUnit::Hour => 24,
                    CalUnit::Minute => 1440,
                    CalUnit::Second => 86_400,
                    _ => 86_400_000,
                };
                return self.add(amount / per_day, CalUnit::Day);
            }
            CalUnit::Hour => out.add_millis(amount.checked_mul(3_600_000)?)?,
            CalUnit::Minute => out.add_millis(amount.checked_mul(60_000)?)?,
            CalUnit::Second => out.add_millis(amount.checked_mul(1000)?)?,
            CalUnit::Millisecond => out.add_millis(amount)?,
        }
        Some(out)
    }

    fn add_months(&mut self, months: i64) -> Option<()> {
        let total = i64::from(self.year) * 12 + i64::from(self.month) - 1 + months;
        let year = total.div_euclid(12);
        if !(1..=9999).contains(&year) {
            return None;
        }
        self.year = u16::try_from(year).ok()?;
        self.month = u8::try_from(total.rem_euclid(12) + 1).ok()?;
        self.day = self.day.min(days_in_month(year, self.month));
        Some(())
    }

    fn add_millis(&mut self, ms: i64) -> Option<()> {
        let day_ms =
            (i64::from(self.hour) * 3600 + i64::from(self.minute) * 60 + i64::from(self.second))
                * 1000
                + i64::from(self.nanos / NANOS_PER_MS);
        let days = days_from_civil(i64::from(self.year), self.month, self.day);
        let total = days
            .checked_mul(86_400_000)?
            .checked_add(day_ms)?
            .checked_add(ms)?;
        let (y, m, d) = civil_from_days(total.div_euclid(86_400_000));
        if !(1..=9999).contains(&y) {
            return None;
        }
        let rem = total.rem_euclid(86_400_000);
        (self.year, self.month, self.day) = (u16::try_from(y).ok()?, m, d);
        self.hour = u8::try_from(rem / 3_600_000).ok()?;
        self.minute = u8::try_from(rem / 60_000 % 60).ok()?;
        self.second = u8::try_from(rem / 1000 % 60).ok()?;
        self.nanos = u32::try_from(rem % 1000).ok()? * NANOS_PER_MS + self.nanos % NANOS_PER_MS;
        Some(())
    }

    /// Earliest (`high == false`) or latest instant this partial value can denote,
    /// written to `to` precision (FHIRPath `lowBoundary` / `highBoundary`).
    pub(crate) fn boundary(&self, high: bool, to: Precision) -> Self {
        let mut out = *self;
        // An hour alone is not a FHIR time: `T08` means `T08:00`.
        let mut src = *self;
        if src.precision == Precision::Hour {
            src.precision = Precision::Minute;
        }
        let this = src;
        if this.precision < Precision::Month {
            out.month = if high { 12 } else { 1 };
        }
        if this.precision < Precision::Day {
            out.day = if high {
                days_in_month(i64::from(out.year), out.month)
            } else {
                1
            };
        }
        if this.precision < Precision::Hour {
            out.hour = if high { 23 } else { 0 };
        }
        if this.precision < Precision::Minute {
            out.minute = if high { 59 } else { 0 };
        }
        if this.precision < Precision::Second {
            out.second = if high { 59 } else { 0 };
        }
        if this.precision < Precision::Millisecond {
            out.nanos = if high { 999 * NANOS_PER_MS } else { 0 };
            out.frac_digits = 3;
        }
        if to >= Precision::Hour && out.tz.is_none() {
            out.tz = Some(if high { -12 * 60 } else { 14 * 60 });
        }
        out.precision = to;
        if to < Precision::Hour {
            out.tz = None;
        }
        out
    }
}

fn compare_keys(a: &[i64; 6], pa: Precision, b: &[i64; 6], pb: Precision) -> Option<Ordering> {
    let level = |p: Precision| match p {
        Precision::Year => 0,
        Precision::Month => 1,
        Precision::Day => 2,
        Precision::Hour => 3,
        Precision::Minute => 4,
        Precision::Second | Precision::Millisecond => 5,
    };
    let (la, lb) = (level(pa), level(pb));
    for (x, y) in a.iter().zip(b.iter()).take(la.min(lb) + 1) {
        match x.cmp(y) {
            Ordering::Equal => {}
            other => return Some(other),
        }
    }
    (la == lb).then_some(Ordering::Equal)
}

fn fmt_clock(
    f: &mut dyn fmt::Write,
    h: u8,
    m: u8,
    s: u8,
    nanos: u32,
    digits: u8,
    p: Precision,
) -> fmt::Result {
    write!(f, "{h:02}")?;
    if p >= Precision::Minute {
        write!(f, ":{m:02}")?;
    }
    if p >= Precision::Second {
        write!(f, ":{s:02}")?;
    }
    if p >= Precision::Millisecond {
        let digits = usize::from(digits.clamp(1, 9));
        let text = format!("{nanos:09}");
        write!(f, ".{}", text.get(..digits).unwrap_or("0"))?;
    }
    Ok(())
}

impl Time {
    /// Parses `HH(:MM(:SS(.fff)?)?)?`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let (hour, minute, second, nanos, frac_digits, precision, n) = parse_clock(s)?;
        (n == s.len()).then_some(Self {
            hour,
            minute,
            second,
            nanos,
            frac_digits,
            precision,
        })
    }

    /// The precision this value was written with.
    #[must_use]
    pub fn precision(&self) -> Precision {
        self.precision
    }

    fn key(&self) -> [i64; 6] {
        let s = i64::from(self.second) * 1_000_000_000 + i64::from(self.nanos);
        [0, 0, 0, i64::from(self.hour), i64::from(self.minute), s]
    }

    /// FHIRPath comparison; `None` when precisions differ and shared parts are equal.
    #[must_use]
    pub fn compare(&self, other: &Self) -> Option<Ordering> {
        compare_keys(&self.key(), self.precision, &other.key(), other.precision)
    }

    /// Adds a clock duration, wrapping around midnight. Calendar units above hours are refused.
    pub(crate) fn add(&self, amount: i64, unit: CalUnit) -> Option<Self> {
        let ms = match unit {
            CalUnit::Hour => amount.checked_mul(3_600_000)?,
            CalUnit::Minute => amount.checked_mul(60_000)?,
            CalUnit::Second => amount.checked_mul(1000)?,
            CalUnit::Millisecond => amount,
            _ => return None,
        };
        let now =
            (i64::from(self.hour) * 3600 + i64::from(self.minute) * 60 + i64::from(self.second))
                * 1000
                + i64::from(self.nanos / NANOS_PER_MS);
        let t = now.checked_add(ms)?.rem_euclid(86_400_000);
        let mut out = *self;
        out.hour = u8::try_from(t / 3_600_000).ok()?;
        out.minute = u8::try_from(t / 60_000 % 60).ok()?;
        out.second = u8::try_from(t / 1000 % 60).ok()?;
        out.nanos = u32::try_from(t % 1000).ok()? * NANOS_PER_MS;
        Some(out)
    }

    /// Earliest or latest time this partial time can denote, at `to` precision.
    pub(crate) fn boundary(&self, high: bool, to: Precision) -> Self {
        let mut out = *self;
        if self.precision < Precision::Minute {
            out.minute = if high { 59 } else { 0 };
        }
        if self.precision < Precision::Second {
            out.second = if high { 59 } else { 0 };
        }
        if self.precision < Precision::Millisecond {
            out.nanos = if high { 999 * NANOS_PER_MS } else { 0 };
            out.frac_digits = 3;
        }
        out.precision = to.max(Precision::Hour);
        out
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s, n, d, p) = (
            self.hour,
            self.minute,
            self.second,
            self.nanos,
            self.frac_digits,
            self.precision,
        );
        fmt_clock(f, h, m, s, n, d, p)
    }
}

/// Number of digits FHIRPath `precision()` reports for a date/time precision.
pub(crate) fn precision_digits(p: Precision, time_only: bool) -> i64 {
    let full = match p {
        Precision::Year => 4,
        Precision::Month => 6,
        Precision::Day => 8,
        Precision::Hour => 10,
        Precision::Minute => 12,
        Precision::Second => 14,
        Precision::Millisecond => 17,
    };
    if time_only { full - 8 } else { full }
}

/// The precision that has `digits` digits (inverse of [`precision_digits`]).
pub(crate) fn precision_from_digits(digits: i64, time_only: bool) -> Option<Precision> {
    let d = if time_only {
        digits.checked_add(8)?
    } else {
        digits
    };
    Some(match d {
        4 => Precision::Year,
        6 => Precision::Month,
        8 => Precision::Day,
        10 => Precision::Hour,
        12 => Precision::Minute,
        14 => Precision::Second,
        17 => Precision::Millisecond,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> DateTime {
        DateTime::parse_datetime(s).unwrap()
    }

    fn text(d: &DateTime) -> String {
        let mut s = String::new();
        d.fmt_with(&mut s, false).unwrap();
        s
    }

    #[test]
    fn parses_partial_precisions_and_rejects_garbage() {
        assert_eq!(dt("2015").precision(), Precision::Year);
        assert_eq!(dt("2015-02-04T14").precision(), Precision::Hour);
        assert_eq!(dt("2015-02-04T14:34:28.123+10:00").tz_offset(), Some(600));
        assert!(DateTime::parse_datetime("2015-02-30").is_none());
        assert!(DateTime::parse_datetime("2015-13").is_none());
        assert!(DateTime::parse_datetime("2015-02-04T25:00").is_none());
        assert!(DateTime::parse_datetime("2015-02T10:00").is_none());
        assert!(DateTime::parse_date("2015-02-04T10").is_none());
        assert_eq!(Time::parse("14:34:28.5").unwrap().to_string(), "14:34:28.5");
        assert!(Time::parse("14:34Z").is_none());
    }

    #[test]
    fn comparison_respects_precision_and_zones() {
        assert_eq!(dt("2018-03").compare(&dt("2018-03-01")), None);
        assert_eq!(
            dt("2018-02").compare(&dt("2018-03-01")),
            Some(Ordering::Less)
        );
        assert_eq!(
            dt("2012-04-15T15:30:31").compare(&dt("2012-04-15T15:30:31.0")),
            Some(Ordering::Equal)
        );
        assert_eq!(
            dt("2017-11-05T01:30:00.0-04:00").compare(&dt("2017-11-05T00:30:00.0-05:00")),
            Some(Ordering::Equal)
        );
        assert_eq!(
            dt("2012-04-15T15:00:00Z").compare(&dt("2012-04-15T10:00:00")),
            None
        );
        assert_eq!(
            Time::parse("10:30")
                .unwrap()
                .compare(&Time::parse("10:30:00").unwrap()),
            None
        );
    }

    #[test]
    fn calendar_arithmetic_clamps_and_carries() {
        let d = DateTime::parse_date("1973-12-25").unwrap();
        let mut s = String::new();
        d.add(7, CalUnit::Day)
            .unwrap()
            .fmt_with(&mut s, true)
            .unwrap();
        assert_eq!(s, "1974-01-01");
        let jan31 = DateTime::parse_date("2020-01-31").unwrap();
        let mut s = String::new();
        jan31
            .add(1, CalUnit::Month)
            .unwrap()
            .fmt_with(&mut s, true)
            .unwrap();
        assert_eq!(s, "2020-02-29");
        let t = dt("1973-12-25T00:00:00.000+10:00");
        assert_eq!(
            text(&t.add(10, CalUnit::Millisecond).unwrap()),
            "1973-12-25T00:00:00.010+10:00"
        );
        assert_eq!(
            text(&t.add(-1, CalUnit::Hour).unwrap()),
            "1973-12-24T23:00:00.000+10:00"
        );
        assert!(dt("9999-12-31").add(1, CalUnit::Day).is_none());
    }

    #[test]
    fn boundaries() {
        let b = dt("2014-01-01T08").boundary(true, Precision::Millisecond);
        assert_eq!(text(&b), "2014-01-01T08:00:59.999-12:00");
        let b = dt("2014").boundary(false, Precision::Month);
        assert_eq!(text(&b), "2014-01");
        assert_eq!(
            Time::parse("10:30")
                .unwrap()
                .boundary(true, Precision::Millisecond)
                .to_string(),
            "10:30:59.999"
        );
    }
}
