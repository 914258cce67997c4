//! Math functions, and the precision functions `lowBoundary`, `highBoundary`, `precision`,
//! `comparable`.
//!
//! `abs`, `ceiling`, `floor`, `round`, `truncate`, `sqrt` and integral `power` are exact decimal
//! operations. `exp`, `ln`, `log` and fractional `power` are transcendental: they are computed in
//! binary floating point and rounded to 15 significant digits.

use rust_decimal::prelude::{FromPrimitive, MathematicalOps, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::ast::{Call, Func};
use crate::error::{Error, Result};
use crate::eval::{Eval, Frame, singleton};
use crate::quantity::Quantity;
use crate::temporal::{precision_digits, precision_from_digits};
use crate::value::{Collection, Item};

/// Most decimal places `lowBoundary`/`highBoundary` produce (beyond, the result is empty).
const MAX_BOUNDARY_DIGITS: i64 = 28;

fn dec<'a>(d: Option<Decimal>) -> Result<Collection<'a>> {
    Ok(d.map(Item::Decimal).into_iter().collect())
}

fn from_f64(x: f64) -> Option<Decimal> {
    if !x.is_finite() {
        return None;
    }
    let magnitude = if x == 0.0 {
        0.0
    } else {
        x.abs().log10().floor()
    };
    let places = u32::try_from((14 - magnitude.clamp(-20.0, 40.0) as i64).clamp(0, 28)).ok()?;
    Some(Decimal::from_f64(x)?.round_dp(places).normalize())
}

fn to_f64(d: Decimal) -> Option<f64> {
    d.to_f64()
}

impl<'a> Eval<'a, '_> {
    pub(crate) fn call_math(
        &self,
        call: &'a Call,
        input: Collection<'a>,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let func = call.func;
        let is_math = matches!(
            func,
            Func::Abs
                | Func::Ceiling
                | Func::Exp
                | Func::Floor
                | Func::Ln
                | Func::Log
                | Func::Power
                | Func::Round
                | Func::Sqrt
                | Func::Truncate
        );
        if !is_math {
            return self.call_precision(call, input, f, pos);
        }
        let Some(item) = singleton(&input, pos, func.name())? else {
            return Ok(Vec::new());
        };
        let value = item.to_system();
        if let (Func::Abs, Some(Item::Quantity(q))) = (func, &value) {
            return Ok(vec![Item::Quantity(Box::new(Quantity::new(
                q.value.abs(),
                q.unit.clone(),
            )))]);
        }
        let (x, is_int) = match value {
            Some(Item::Integer(i)) => (Decimal::from(i), true),
            Some(Item::Decimal(d)) => (d, false),
            _ => return Err(Error::ty(pos, "math functions need a number")),
        };
        let int_or_dec = |d: Decimal| -> Result<Collection<'a>> {
            Ok(vec![match d.to_i64() {
                Some(i) if is_int => Item::Integer(i),
                _ => Item::Decimal(d),
            }])
        };
        let whole = |d: Decimal| Ok(d.to_i64().map(Item::Integer).into_iter().collect());
        match func {
            Func::Abs => int_or_dec(x.abs()),
            Func::Ceiling => whole(x.ceil()),
            Func::Floor => whole(x.floor()),
            Func::Truncate => whole(x.trunc()),
            Func::Round => {
                let n = match call.args.first() {
                    Some(_) => self.integer_arg(call, 0, f, pos)?.unwrap_or(0),
                    None => 0,
                };
                let n = u32::try_from(n)
                    .map_err(|_| Error::ty(pos, "round() precision must be >= 0"))?;
                dec(Some(x.round_dp_with_strategy(
                    n,
                    RoundingStrategy::MidpointAwayFromZero,
                )))
            }
            Func::Sqrt => dec(if x.is_sign_negative() && !x.is_zero() {
                None
            } else {
                x.sqrt().map(|d| d.normalize())
            }),
            _ => self.transcendental(call, x, is_int, f, pos),
        }
    }

    /// `exp`, `ln`, `log`, `power`.
    fn transcendental(
        &self,
        call: &'a Call,
        x: Decimal,
        is_int: bool,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        match call.func {
            Func::Exp => dec(to_f64(x).map(f64::exp).and_then(from_f64)),
            Func::Ln => dec(to_f64(x)
                .filter(|v| *v > 0.0)
                .map(f64::ln)
                .and_then(from_f64)),
            Func::Log => {
                let base = self.number_arg(call, f, pos)?;
                let r = base.and_then(|b| Some(to_f64(x)?.ln() / to_f64(b)?.ln()));
                dec(r.and_then(from_f64))
            }
            _ => {
                let Some(e) = self.number_arg(call, f, pos)? else {
                    return Ok(Vec::new());
                };
                power(x, e, is_int && e.scale() == 0 && !e.is_sign_negative())
            }
        }
    }

    fn number_arg(&self, call: &'a Call, f: &Frame<'a, '_>, pos: usize) -> Result<Option<Decimal>> {
        let v = self.eval(super::arg(call, 0, pos)?, f)?;
        match singleton(&v, pos, call.func.name())?.map(Item::to_system) {
            None => Ok(None),
            Some(Some(Item::Integer(i))) => Ok(Some(Decimal::from(i))),
            Some(Some(Item::Decimal(d))) => Ok(Some(d)),
            Some(_) => Err(Error::ty(pos, "argument must be a number")),
        }
    }

    fn call_precision(
        &self,
        call: &'a Call,
        input: Collection<'a>,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let func = call.func;
        if !matches!(
            func,
            Func::LowBoundary | Func::HighBoundary | Func::Precision | Func::Comparable
        ) {
            return self.call_convert(call, input, f, pos);
        }
        let Some(item) = singleton(&input, pos, func.name())? else {
            return Ok(Vec::new());
        };
        let value = item
            .to_system()
            .ok_or(Error::ty(pos, "input must be a primitive value"))?;
        if func == Func::Comparable {
            let other = self.eval(super::arg(call, 0, pos)?, f)?;
            let Some(o) = singleton(&other, pos, "comparable")?.and_then(Item::to_system) else {
                return Ok(Vec::new());
            };
            return Ok(match (&value, &o) {
                (Item::Quantity(a), Item::Quantity(b)) => vec![Item::Boolean(a.comparable(b))],
                _ => return Err(Error::ty(pos, "comparable() needs quantities")),
            });
        }
        if func == Func::Precision {
            let digits = match &value {
                Item::Decimal(d) => i64::from(d.scale()),
                Item::Integer(_) => 0,
                Item::Date(d) | Item::DateTime(d) => precision_digits(d.precision(), false),
                Item::Time(t) => precision_digits(t.precision(), true),
                _ => return Err(Error::ty(pos, "precision() needs a number or date/time")),
            };
            return Ok(vec![Item::Integer(digits)]);
        }
        let digits = match call.args.first() {
            Some(_) => self.integer_arg(call, 0, f, pos)?,
            None => None,
        };
        Ok(boundary(&value, func == Func::HighBoundary, digits)
            .into_iter()
            .collect())
    }
}

fn power<'a>(x: Decimal, e: Decimal, integral: bool) -> Result<Collection<'a>> {
    if (e.scale() == 0 || e.fract().is_zero())
        && let Some(n) = e.to_i64().filter(|n| (0..=1000).contains(n))
    {
        let r = (0..n).try_fold(Decimal::ONE, |acc, _| acc.checked_mul(x));
        return Ok(r
            .map(|d| match d.to_i64() {
                Some(i) if integral => Item::Integer(i),
                _ => Item::Decimal(d),
            })
            .into_iter()
            .collect());
    }
    let r = match (x.to_f64(), e.to_f64()) {
        (Some(a), Some(b)) => from_f64(a.powf(b)),
        _ => None,
    };
    dec(r)
}

/// `lowBoundary` / `highBoundary` of a decimal, quantity or date/time.
fn boundary<'a>(value: &Item<'a>, high: bool, digits: Option<i64>) -> Option<Item<'a>> {
    match value {
        Item::Integer(i) => decimal_boundary(Decimal::from(*i), high, digits).map(Item::Decimal),
        Item::Decimal(d) => decimal_boundary(*d, high, digits).map(Item::Decimal),
        Item::Quantity(q) => decimal_boundary(q.value, high, digits)
            .map(|v| Item::Quantity(Box::new(Quantity::new(v, q.unit.clone())))),
        Item::Date(d) => {
            let p = precision_from_digits(digits.unwrap_or(8), false)?;
            Some(Item::Date(
                d.boundary(high, p.min(crate::temporal::Precision::Day)),
            ))
        }
        Item::DateTime(d) => {
            let p = precision_from_digits(digits.unwrap_or(17), false)?;
            Some(Item::DateTime(d.boundary(high, p)))
        }
        Item::Time(t) => {
            let p = precision_from_digits(digits.unwrap_or(9), true)?;
            Some(Item::Time(t.boundary(high, p)))
        }
        _ => None,
    }
}

/// The least/greatest decimal that rounds to `d` at its precision, written with `digits` places.
fn decimal_boundary(d: Decimal, high: bool, digits: Option<i64>) -> Option<Decimal> {
    let digits = digits.unwrap_or(8);
    if !(0..=MAX_BOUNDARY_DIGITS).contains(&digits) {
        return None;
    }
    let places = u32::try_from(digits).ok()?;
    let half = Decimal::try_new(5, d.scale() + 1).ok()?;
    let edge = if high {
        d.checked_add(half)?
    } else {
        d.checked_sub(half)?
    };
    let mut r = if places < edge.scale() {
        let strategy = if high {
            RoundingStrategy::ToPositiveInfinity
        } else {
            RoundingStrategy::ToNegativeInfinity
        };
        edge.round_dp_with_strategy(places, strategy)
    } else {
        edge
    };
    r.rescale(places);
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str, high: bool, digits: Option<i64>) -> String {
        decimal_boundary(s.parse().unwrap(), high, digits)
            .map(|d| d.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn decimal_boundaries() {
        assert_eq!(b("1.587", false, None), "1.58650000");
        assert_eq!(b("1.587", true, None), "1.58750000");
        assert_eq!(b("-1.587", false, None), "-1.58750000");
        assert_eq!(b("-1.587", true, None), "-1.58650000");
        assert_eq!(b("1.587", false, Some(2)), "1.58");
        assert_eq!(b("1.587", true, Some(2)), "1.59");
        assert_eq!(b("-1.587", false, Some(2)), "-1.59");
        assert_eq!(b("-1.587", true, Some(2)), "-1.58");
        assert_eq!(b("1.587", false, Some(0)), "1");
        assert_eq!(b("1", true, Some(0)), "2");
        assert_eq!(b("1", false, Some(0)), "0");
        assert_eq!(b("120", false, Some(2)), "119.50");
        assert_eq!(b("-120", true, Some(2)), "-119.50");
        assert_eq!(b("12.500", true, Some(4)), "12.5005");
        assert_eq!(b("0.0034", false, Some(1)), "0.0");
        assert_eq!(b("1.587", false, Some(40)), "");
        assert_eq!(b("1.587", false, Some(-1)), "");
    }

    #[test]
    fn floats_are_rounded() {
        assert_eq!(from_f64(4.000000000000001).unwrap().to_string(), "4");
        assert!(from_f64(f64::NAN).is_none());
    }
}
