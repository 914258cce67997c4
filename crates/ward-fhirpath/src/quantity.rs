//! Quantities and a small UCUM subset: unit parsing, conversion, comparison and unit algebra.
//!
//! Units are parsed into a decimal factor and exponents over the base dimensions
//! (m, g, s, K, A, mol, cd, and the arbitrary international unit). Two quantities compare when
//! their dimensions match. Calendar durations (`year`, `week`, ...) follow the FHIRPath rules:
//! `week`..`millisecond` equal their UCUM counterparts; `year`/`month` are only *equivalent* to
//! `'a'`/`'mo'`, and comparing them with `=` against definite durations is unknown.

use std::cmp::Ordering;
use std::fmt;

use rust_decimal::Decimal;

use crate::temporal::CalUnit;

/// A FHIRPath quantity: an exact decimal value and a unit (UCUM code or calendar keyword).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    /// The numeric value.
    pub value: Decimal,
    /// UCUM code (e.g. `mg`, `[lb_av]`) or calendar duration keyword (e.g. `week`).
    pub unit: String,
}

const DIMS: usize = 8;
type Dims = [i8; DIMS];

/// A parsed unit: `value_in_base = value * factor`, with `dims` exponents.
#[derive(Debug, Clone, PartialEq)]
struct Canon {
    factor: Decimal,
    dims: Dims,
}

/// Calendar duration keywords (singular and plural) and their UCUM definite counterpart.
const CALENDAR: &[(&str, &str, CalUnit)] = &[
    ("year", "a", CalUnit::Year),
    ("years", "a", CalUnit::Year),
    ("month", "mo", CalUnit::Month),
    ("months", "mo", CalUnit::Month),
    ("week", "wk", CalUnit::Week),
    ("weeks", "wk", CalUnit::Week),
    ("day", "d", CalUnit::Day),
    ("days", "d", CalUnit::Day),
    ("hour", "h", CalUnit::Hour),
    ("hours", "h", CalUnit::Hour),
    ("minute", "min", CalUnit::Minute),
    ("minutes", "min", CalUnit::Minute),
    ("second", "s", CalUnit::Second),
    ("seconds", "s", CalUnit::Second),
    ("millisecond", "ms", CalUnit::Millisecond),
    ("milliseconds", "ms", CalUnit::Millisecond),
];

/// True if `word` is a FHIRPath calendar duration keyword.
pub(crate) fn is_calendar_word(word: &str) -> bool {
    CALENDAR.iter().any(|(w, _, _)| *w == word)
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or(Decimal::ONE)
}

/// Base atoms: (code, factor to base, dims, accepts metric prefixes).
fn atom(code: &str) -> Option<(Decimal, Dims, bool)> {
    let d = |i: usize, e: i8| {
        let mut x = [0i8; DIMS];
        if let Some(slot) = x.get_mut(i) {
            *slot = e;
        }
        x
    };
    let none = [0i8; DIMS];
    let vol = d(0, 3);
    let f = |n: i64| Decimal::from(n);
    Some(match code {
        "m" => (Decimal::ONE, d(0, 1), true),
        "g" => (Decimal::ONE, d(1, 1), true),
        "s" => (Decimal::ONE, d(2, 1), true),
        "K" => (Decimal::ONE, d(3, 1), true),
        "A" => (Decimal::ONE, d(4, 1), true),
        "mol" => (Decimal::ONE, d(5, 1), true),
        "cd" => (Decimal::ONE, d(6, 1), true),
        "[iU]" | "[IU]" | "U" => (Decimal::ONE, d(7, 1), true),
        "eq" => (Decimal::ONE, d(5, 1), true),
        "L" | "l" => (dec("0.001"), vol, true),
        "min" => (f(60), d(2, 1), false),
        "h" => (f(3600), d(2, 1), false),
        "d" => (f(86_400), d(2, 1), false),
        "wk" => (f(604_800), d(2, 1), false),
        "mo" => (f(2_629_800), d(2, 1), false),
        "a" => (f(31_557_600), d(2, 1), false),
        "Hz" => (Decimal::ONE, d(2, -1), true),
        "N" => (f(1000), [1, 1, -2, 0, 0, 0, 0, 0], true),
        "Pa" => (f(1000), [-1, 1, -2, 0, 0, 0, 0, 0], true),
        "J" => (f(1000), [2, 1, -2, 0, 0, 0, 0, 0], true),
        "W" => (f(1000), [2, 1, -3, 0, 0, 0, 0, 0], true),
        "mm[Hg]" => (dec("133322.387415"), [-1, 1, -2, 0, 0, 0, 0, 0], false),
        "[in_i]" => (dec("0.0254"), d(0, 1), false),
        "[ft_i]" => (dec("0.3048"), d(0, 1), false),
        "[yd_i]" => (dec("0.9144"), d(0, 1), false),
        "[mi_i]" => (dec("1609.344"), d(0, 1), false),
        "[lb_av]" => (dec("453.59237"), d(1, 1), false),
        "[oz_av]" => (dec("28.349523125"), d(1, 1), false),
        "[gal_us]" => (dec("0.003785411784"), vol, false),
        "[foz_us]" => (dec("0.0000295735295625"), vol, false),
        "%" => (dec("0.01"), none, false),
        "[ppm]" => (dec("0.000001"), none, false),
        "1" => (Decimal::ONE, none, false),
        _ => return None,
    })
}

const PREFIXES: &[(&str, i32)] = &[
    ("da", 1),
    ("Y", 24),
    ("Z", 21),
    ("E", 18),
    ("P", 15),
    ("T", 12),
    ("G", 9),
    ("M", 6),
    ("k", 3),
    ("h", 2),
    ("d", -1),
    ("c", -2),
    ("m", -3),
    ("u", -6),
    ("\u{3bc}", -6),
    ("n", -9),
    ("p", -12),
    ("f", -15),
    ("a", -18),
];

fn pow10(e: i32) -> Option<Decimal> {
    let n = e.unsigned_abs();
    if n > 27 {
        return None;
    }
    if e >= 0 {
        Some(Decimal::from_i128_with_scale(10i128.pow(n), 0))
    } else {
        Some(Decimal::new(1, n))
    }
}

fn checked_pow(base: Decimal, exp: i8) -> Option<Decimal> {
    let mut out = Decimal::ONE;
    for _ in 0..exp.unsigned_abs() {
        out = out.checked_mul(base)?;
    }
    if exp < 0 {
        Decimal::ONE.checked_div(out)
    } else {
        Some(out)
    }
}

/// Parses one term such as `cm2`, `[in_i]`, `10*3`, `{beats}`, `s-1`.
fn term(t: &str) -> Option<Canon> {
    if t.starts_with('{') && t.ends_with('}') {
        return Some(Canon {
            factor: Decimal::ONE,
            dims: [0; DIMS],
        });
    }
    let t = match t.find('{') {
        Some(i) if t.ends_with('}') => t.get(..i)?,
        _ => t,
    };
    if let Some(rest) = t.strip_prefix("10*").or_else(|| t.strip_prefix("10^")) {
        let e: i32 = rest.parse().ok()?;
        return Some(Canon {
            factor: pow10(e)?,
            dims: [0; DIMS],
        });
    }
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Canon {
            factor: t.parse().ok()?,
            dims: [0; DIMS],
        });
    }
    // Split a trailing signed exponent off (but not from bracketed atoms like [in_i]).
    let split = t
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '-' || *c == '+'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let (body, exp) = t.split_at(split);
    let exp: i8 = if exp.is_empty() { 1 } else { exp.parse().ok()? };
    let (factor, dims) = prefixed_atom(body)?;
    let mut out = [0i8; DIMS];
    for (o, d) in out.iter_mut().zip(dims.iter()) {
        *o = d.checked_mul(exp)?;
    }
    Some(Canon {
        factor: checked_pow(factor, exp)?,
        dims: out,
    })
}

fn prefixed_atom(body: &str) -> Option<(Decimal, Dims)> {
    if let Some((f, d, _)) = atom(body) {
        return Some((f, d));
    }
    for (p, e) in PREFIXES {
        if let Some(rest) = body.strip_prefix(p)
            && let Some((f, d, true)) = atom(rest)
        {
            return Some((f.checked_mul(pow10(*e)?)?, d));
        }
    }
    None
}

/// Parses a UCUM unit expression made of terms joined by `.` and `/`.
fn canon(unit: &str) -> Option<Canon> {
    if unit.is_empty() || unit.contains(['(', ')', ' ']) {
        return None;
    }
    let mut acc = Canon {
        factor: Decimal::ONE,
        dims: [0; DIMS],
    };
    let mut divide = false;
    let mut start = 0;
    let bytes = unit.as_bytes();
    for i in 0..=bytes.len() {
        let sep = bytes.get(i).copied();
        let in_brackets = unit
            .get(start..i)
            .is_some_and(|s| s.matches('[').count() > s.matches(']').count());
        if !(sep.is_none() || (!in_brackets && matches!(sep, Some(b'.' | b'/')))) {
            continue;
        }
        let text = unit.get(start..i)?;
        if text.is_empty() {
            if i != 0 {
                return None;
            }
        } else {
            let c = term(text)?;
            acc.factor = if divide {
                acc.factor.checked_div(c.factor)?
            } else {
                acc.factor.checked_mul(c.factor)?
            };
            for (a, d) in acc.dims.iter_mut().zip(c.dims.iter()) {
                *a = if divide {
                    a.checked_sub(*d)?
                } else {
                    a.checked_add(*d)?
                };
            }
        }
        divide = sep == Some(b'/');
        start = i + 1;
    }
    Some(acc)
}

/// The UCUM code a calendar keyword stands for when compared (`week` -> `wk`).
fn calendar_ucum(unit: &str) -> Option<&'static str> {
    CALENDAR
        .iter()
        .find(|(w, _, _)| *w == unit)
        .map(|(_, u, _)| *u)
}

impl Quantity {
    /// Creates a quantity.
    #[must_use]
    pub fn new(value: Decimal, unit: impl Into<String>) -> Self {
        Self {
            value,
            unit: unit.into(),
        }
    }

    /// True if the unit is a calendar keyword (`year`, `days`, ...).
    #[must_use]
    pub fn is_calendar(&self) -> bool {
        is_calendar_word(&self.unit)
    }

    /// The calendar unit for date arithmetic: keywords and the UCUM codes `wk d h min s ms`.
    /// UCUM `a` and `mo` are not calendar units (they are definite averages) and yield `None`.
    pub(crate) fn cal_unit(&self) -> Option<CalUnit> {
        if let Some((_, _, u)) = CALENDAR.iter().find(|(w, _, _)| *w == self.unit) {
            return Some(*u);
        }
        Some(match self.unit.as_str() {
            "wk" => CalUnit::Week,
            "d" => CalUnit::Day,
            "h" => CalUnit::Hour,
            "min" => CalUnit::Minute,
            "s" => CalUnit::Second,
            "ms" => CalUnit::Millisecond,
            _ => return None,
        })
    }

    /// The unit as UCUM for comparison. `strict` refuses `year`/`month` (they are not definite).
    fn ucum_unit(&self, strict: bool) -> Option<&str> {
        match calendar_ucum(&self.unit) {
            Some("a" | "mo") if strict => None,
            Some(u) => Some(u),
            None => Some(self.unit.as_str()),
        }
    }

    fn both_year_month(&self, other: &Self) -> Option<(Decimal, Decimal)> {
        let months = |q: &Self| match calendar_ucum(&q.unit) {
            Some("a") => q.value.checked_mul(Decimal::from(12)),
            Some("mo") => Some(q.value),
            _ => None,
        };
        Some((months(self)?, months(other)?))
    }

    /// Converts `other` into this quantity's unit, when the dimensions agree.
    fn align(&self, other: &Self, strict: bool) -> Option<(Decimal, Decimal)> {
        if let Some(pair) = self.both_year_month(other) {
            return Some(pair);
        }
        let (ua, ub) = (self.ucum_unit(strict)?, other.ucum_unit(strict)?);
        if ua == ub {
            return Some((self.value, other.value));
        }
        let (ca, cb) = (canon(ua)?, canon(ub)?);
        if ca.dims != cb.dims {
            return None;
        }
        let converted = other.value.checked_mul(cb.factor)?.checked_div(ca.factor)?;
        Some((self.value, converted))
    }

    /// FHIRPath ordering; `None` when the units are not comparable.
    #[must_use]
    pub fn compare(&self, other: &Self) -> Option<Ordering> {
        let (a, b) = self.align(other, true)?;
        Some(a.cmp(&b))
    }

    /// FHIRPath `~`: units may convert, values compare at the lesser precision.
    #[must_use]
    pub fn equivalent(&self, other: &Self) -> bool {
        let Some((a, b)) = self.align(other, false) else {
            return false;
        };
        let scale = self.value.scale().min(other.value.scale());
        a.round_dp(scale) == b.round_dp(scale)
    }

    /// True if the two units measure the same dimension (FHIRPath `comparable()`).
    #[must_use]
    pub fn comparable(&self, other: &Self) -> bool {
        self.align(other, false).is_some()
    }

    /// Product (`mul == true`) or quotient of two quantities, in base units.
    pub(crate) fn mul_div(&self, other: &Self, mul: bool) -> Option<Self> {
        let ca = canon(self.ucum_unit(false)?)?;
        let cb = canon(other.ucum_unit(false)?)?;
        let a = self.value.checked_mul(ca.factor)?;
        let b = other.value.checked_mul(cb.factor)?;
        let value = if mul {
            a.checked_mul(b)?
        } else {
            a.checked_div(b)?
        };
        let mut dims = [0i8; DIMS];
        for ((o, x), y) in dims.iter_mut().zip(ca.dims.iter()).zip(cb.dims.iter()) {
            *o = if mul {
                x.checked_add(*y)?
            } else {
                x.checked_sub(*y)?
            };
        }
        Some(Self {
            value: value.normalize(),
            unit: unit_text(&dims),
        })
    }

    /// Sum or difference; `other` is converted to this quantity's unit.
    pub(crate) fn add_sub(&self, other: &Self, add: bool) -> Option<Self> {
        let (a, b) = self.align(other, true)?;
        let value = if add {
            a.checked_add(b)?
        } else {
            a.checked_sub(b)?
        };
        Some(Self {
            value,
            unit: self.unit.clone(),
        })
    }

    /// Converts to `unit` when dimensions agree.
    pub(crate) fn convert_to(&self, unit: &str) -> Option<Self> {
        let target = Self {
            value: Decimal::ONE,
            unit: unit.to_owned(),
        };
        let (_, v) = target.align(self, false)?;
        Some(Self {
            value: v,
            unit: unit.to_owned(),
        })
    }
}

/// Writes base-dimension exponents as a UCUM unit (`g.m-1`, `m2`, or `1`).
fn unit_text(dims: &Dims) -> String {
    const NAMES: [&str; DIMS] = ["m", "g", "s", "K", "A", "mol", "cd", "[iU]"];
    let parts: Vec<String> = NAMES
        .iter()
        .zip(dims.iter())
        .filter(|(_, e)| **e != 0)
        .map(|(n, e)| {
            if *e == 1 {
                (*n).to_owned()
            } else {
                format!("{n}{e}")
            }
        })
        .collect();
    if parts.is_empty() {
        "1".to_owned()
    } else {
        parts.join(".")
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_calendar() {
            write!(f, "{} {}", self.value, self.unit)
        } else {
            write!(f, "{} '{}'", self.value, self.unit)
        }
    }
}

/// True if `unit` parses as a unit this engine understands.
pub(crate) fn known_unit(unit: &str) -> bool {
    is_calendar_word(unit) || canon(unit).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(v: &str, u: &str) -> Quantity {
        Quantity::new(v.parse().unwrap(), u)
    }

    #[test]
    fn converts_mass_length_volume_time() {
        assert_eq!(
            q("4.0000", "g").compare(&q("4000.0", "mg")),
            Some(Ordering::Equal)
        );
        assert_eq!(
            q("1", "[in_i]").compare(&q("2.54", "cm")),
            Some(Ordering::Equal)
        );
        assert_eq!(
            q("1", "[ft_i]").compare(&q("304.8", "mm")),
            Some(Ordering::Equal)
        );
        assert_eq!(
            q("1", "km").compare(&q("999", "m")),
            Some(Ordering::Greater)
        );
        assert_eq!(q("1", "L").compare(&q("1000", "mL")), Some(Ordering::Equal));
        assert_eq!(q("1", "dL").compare(&q("100", "mL")), Some(Ordering::Equal));
        assert_eq!(
            q("1", "ug").compare(&q("0.001", "mg")),
            Some(Ordering::Equal)
        );
        assert_eq!(q("1", "h").compare(&q("60", "min")), Some(Ordering::Equal));
        assert_eq!(
            q("185", "[lb_av]").compare(&q("83.91458845", "kg")),
            Some(Ordering::Equal)
        );
        assert_eq!(q("1", "cm").compare(&q("1", "s")), None);
        assert_eq!(q("1", "cm").compare(&q("1", "[foo]")), None);
    }

    #[test]
    fn calendar_durations_follow_fhirpath() {
        assert_eq!(
            q("7", "days").compare(&q("1", "week")),
            Some(Ordering::Equal)
        );
        assert_eq!(q("7", "days").compare(&q("1", "wk")), Some(Ordering::Equal));
        assert_eq!(
            q("1", "second").compare(&q("1000", "ms")),
            Some(Ordering::Equal)
        );
        assert_eq!(q("1", "year").compare(&q("1", "a")), None);
        assert!(q("1", "year").equivalent(&q("1", "a")));
        assert_eq!(
            q("1", "year").compare(&q("12", "months")),
            Some(Ordering::Equal)
        );
    }

    #[test]
    fn equivalence_rounds_to_least_precision() {
        assert!(q("4", "g").equivalent(&q("4040", "mg")));
        assert!(!q("4", "g").equivalent(&q("4600", "mg")));
        assert!(!q("1", "g").equivalent(&q("1", "m")));
    }

    #[test]
    fn unit_algebra() {
        let p = q("2.0", "cm").mul_div(&q("2.0", "m"), true).unwrap();
        assert_eq!(p.compare(&q("0.040", "m2")), Some(Ordering::Equal));
        let r = q("4.0", "g").mul_div(&q("2.0", "m"), false).unwrap();
        assert_eq!(r.compare(&q("2", "g/m")), Some(Ordering::Equal));
        let one = q("1.0", "m").mul_div(&q("1.0", "m"), false).unwrap();
        assert_eq!(one.compare(&q("1", "1")), Some(Ordering::Equal));
        assert_eq!(
            q("1", "mg").add_sub(&q("1", "g"), true).unwrap(),
            q("1001", "mg")
        );
        assert!(canon("10*3/uL").is_some());
        assert!(canon("{beats}/min").is_some());
        assert!(canon("mL/(24.h)").is_none());
        assert!(canon("\u{518}").is_none(), "non-ASCII units do not panic");
        assert!(canon("\u{518}2").is_none());
        assert_eq!(q("1", "wk").to_string(), "1 'wk'");
        assert_eq!(q("1", "week").to_string(), "1 week");
    }
}
