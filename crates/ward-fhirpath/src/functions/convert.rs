//! Conversion functions: `toX()` and `convertsToX()` for the System types.

use rust_decimal::Decimal;

use crate::ast::{Call, Func};
use crate::error::{Error, Result};
use crate::eval::{Eval, Frame, singleton};
use crate::quantity::{Quantity, is_calendar_word, known_unit};
use crate::temporal::{DateTime, Time};
use crate::value::{Collection, Item, parse_decimal};

fn is_int_text(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn is_dec_text(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    match body.split_once('.') {
        Some((a, b)) => is_int_text(a) && !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()),
        None => is_int_text(body),
    }
}

fn to_boolean(v: &Item<'_>) -> Option<bool> {
    match v {
        Item::Boolean(b) => Some(*b),
        Item::Integer(1) => Some(true),
        Item::Integer(0) => Some(false),
        Item::Decimal(d) if *d == Decimal::ONE => Some(true),
        Item::Decimal(d) if d.is_zero() => Some(false),
        Item::String(s) => match s.to_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(true),
            "false" | "f" | "no" | "n" | "0" | "0.0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn to_integer(v: &Item<'_>) -> Option<i64> {
    match v {
        Item::Integer(i) => Some(*i),
        Item::Boolean(b) => Some(i64::from(*b)),
        Item::String(s) if is_int_text(s) => s.parse().ok(),
        _ => None,
    }
}

fn to_decimal(v: &Item<'_>) -> Option<Decimal> {
    match v {
        Item::Integer(i) => Some(Decimal::from(*i)),
        Item::Decimal(d) => Some(*d),
        Item::Boolean(b) => Some(if *b { Decimal::ONE } else { Decimal::ZERO }),
        Item::String(s) if is_dec_text(s) => parse_decimal(s),
        _ => None,
    }
}

/// Parses `number ('unit' | calendar-word)?` (the FHIRPath quantity literal syntax).
pub(crate) fn parse_quantity(s: &str) -> Option<Quantity> {
    let s = s.trim();
    let (num, unit) = match s.split_once(' ') {
        Some((n, u)) => (n, u.trim()),
        None => (s, ""),
    };
    if !is_dec_text(num) {
        return None;
    }
    let value = parse_decimal(num)?;
    let unit = if unit.is_empty() {
        "1"
    } else if let Some(u) = unit.strip_prefix('\'').and_then(|u| u.strip_suffix('\'')) {
        u
    } else if is_calendar_word(unit) {
        unit
    } else {
        return None;
    };
    Some(Quantity::new(value, unit))
}

fn to_quantity(v: &Item<'_>) -> Option<Quantity> {
    match v {
        Item::Quantity(q) => Some((**q).clone()),
        Item::Integer(_) | Item::Decimal(_) | Item::Boolean(_) => {
            to_decimal(v).map(|d| Quantity::new(d, "1"))
        }
        Item::String(s) => parse_quantity(s),
        _ => None,
    }
}

fn to_date(v: &Item<'_>) -> Option<DateTime> {
    match v {
        Item::Date(d) => Some(*d),
        Item::DateTime(d) => Some(d.date_part()),
        Item::String(s) => {
            DateTime::parse_date(s).or_else(|| DateTime::parse_datetime(s).map(|d| d.date_part()))
        }
        _ => None,
    }
}

fn to_datetime(v: &Item<'_>) -> Option<DateTime> {
    match v {
        Item::Date(d) | Item::DateTime(d) => Some(*d),
        Item::String(s) => DateTime::parse_datetime(s),
        _ => None,
    }
}

fn to_time(v: &Item<'_>) -> Option<Time> {
    match v {
        Item::Time(t) => Some(*t),
        Item::String(s) => Time::parse(s.strip_prefix('T').unwrap_or(s)),
        _ => None,
    }
}

/// The converted value of `v` for a `toX` function, or `None` if it does not convert.
fn convert<'a>(func: Func, v: &Item<'a>) -> Option<Item<'a>> {
    match func {
        Func::ToBoolean | Func::ConvertsToBoolean => to_boolean(v).map(Item::Boolean),
        Func::ToInteger | Func::ConvertsToInteger | Func::ToLong | Func::ConvertsToLong => {
            to_integer(v).map(Item::Integer)
        }
        Func::ToDecimal | Func::ConvertsToDecimal => to_decimal(v).map(Item::Decimal),
        Func::ToStringFn | Func::ConvertsToString => v.to_text().map(Item::string),
        Func::ToDate | Func::ConvertsToDate => to_date(v).map(Item::Date),
        Func::ToDateTime | Func::ConvertsToDateTime => to_datetime(v).map(Item::DateTime),
        Func::ToTime | Func::ConvertsToTime => to_time(v).map(Item::Time),
        Func::ToQuantity | Func::ConvertsToQuantity => {
            to_quantity(v).map(|q| Item::Quantity(Box::new(q)))
        }
        _ => None,
    }
}

fn is_conversion(func: Func) -> bool {
    is_converts(func)
        || matches!(
            func,
            Func::ToBoolean
                | Func::ToInteger
                | Func::ToLong
                | Func::ToDecimal
                | Func::ToStringFn
                | Func::ToDate
                | Func::ToDateTime
                | Func::ToTime
                | Func::ToQuantity
        )
}

fn is_converts(func: Func) -> bool {
    matches!(
        func,
        Func::ConvertsToBoolean
            | Func::ConvertsToInteger
            | Func::ConvertsToLong
            | Func::ConvertsToDecimal
            | Func::ConvertsToString
            | Func::ConvertsToDate
            | Func::ConvertsToDateTime
            | Func::ConvertsToTime
            | Func::ConvertsToQuantity
    )
}

impl<'a> Eval<'a, '_> {
    pub(crate) fn call_convert(
        &self,
        call: &'a Call,
        input: Collection<'a>,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let func = call.func;
        if !is_conversion(func) {
            return Err(Error::Unsupported {
                pos,
                what: "function not implemented",
            });
        }
        let Some(item) = singleton(&input, pos, func.name())? else {
            return Ok(Vec::new());
        };
        let Some(value) = item.to_system() else {
            return if is_converts(func) {
                Ok(vec![Item::Boolean(false)])
            } else {
                Ok(Vec::new())
            };
        };
        let mut out = convert(func, &value);
        if matches!(func, Func::ToQuantity | Func::ConvertsToQuantity) && !call.args.is_empty() {
            let unit = self.string_arg(call, 0, f, pos)?;
            out = match (out, unit) {
                (Some(Item::Quantity(q)), Some(u)) if known_unit(&u) => {
                    q.convert_to(&u).map(|q| Item::Quantity(Box::new(q)))
                }
                _ => None,
            };
        }
        Ok(if is_converts(func) {
            vec![Item::Boolean(out.is_some())]
        } else {
            out.into_iter().collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantity_strings() {
        assert_eq!(parse_quantity("1 day").unwrap().unit, "day");
        assert_eq!(parse_quantity("1 'wk'").unwrap().unit, "wk");
        assert!(parse_quantity("1 wk").is_none());
        assert!(parse_quantity("1.a").is_none());
        assert_eq!(parse_quantity("1.5").unwrap().unit, "1");
    }

    #[test]
    fn text_forms() {
        assert!(is_int_text("-12") && !is_int_text("1.0") && !is_int_text(""));
        assert!(is_dec_text("1.0") && !is_dec_text("1.") && !is_dec_text("1.a"));
        assert_eq!(to_boolean(&Item::string("Yes")), Some(true));
        assert_eq!(to_boolean(&Item::Integer(2)), None);
    }
}
