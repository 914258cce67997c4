//! Operators: three-valued logic, arithmetic (exact decimals), string and date arithmetic,
//! comparison, membership and union.

use std::cmp::Ordering;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::compare::{collection_eq, collection_equiv, contains_item, dedup_key, item_cmp};
use super::singleton;
use crate::ast::BinOp;
use crate::error::{Error, Result};
use crate::functions::strings::check_len;
use crate::quantity::Quantity;
use crate::value::{Collection, Item};

/// Singleton evaluation as Boolean: empty → `None`; a Boolean → its value; any other single
/// item → `true`; several items → error.
pub(crate) fn to_bool3(c: &[Item<'_>], pos: usize, what: &'static str) -> Result<Option<bool>> {
    let Some(item) = singleton(c, pos, what)? else {
        return Ok(None);
    };
    Ok(Some(match item.to_system() {
        Some(Item::Boolean(b)) => b,
        _ => true,
    }))
}

fn boolean<'a>(b: Option<bool>) -> Collection<'a> {
    b.map(Item::Boolean).into_iter().collect()
}

/// Applies `op` to evaluated operands.
pub(crate) fn binary<'a>(
    op: BinOp,
    left: &[Item<'a>],
    right: &[Item<'a>],
    pos: usize,
) -> Result<Collection<'a>> {
    let sym = op.symbol();
    match op {
        BinOp::And | BinOp::Or | BinOp::Xor | BinOp::Implies => {
            let (a, b) = (to_bool3(left, pos, sym)?, to_bool3(right, pos, sym)?);
            Ok(boolean(logic(op, a, b)))
        }
        BinOp::Eq => Ok(boolean(collection_eq(left, right))),
        BinOp::Ne => Ok(boolean(collection_eq(left, right).map(|b| !b))),
        BinOp::Equiv => Ok(vec![Item::Boolean(collection_equiv(left, right))]),
        BinOp::NotEquiv => Ok(vec![Item::Boolean(!collection_equiv(left, right))]),
        BinOp::Union => Ok(union(left, right)),
        BinOp::In => membership(left, right, pos, sym),
        BinOp::Contains => membership(right, left, pos, sym),
        BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge => {
            let (Some(a), Some(b)) = (singleton(left, pos, sym)?, singleton(right, pos, sym)?)
            else {
                return Ok(Vec::new());
            };
            let ord = item_cmp(a, b, pos)?;
            Ok(boolean(ord.map(|o| match op {
                BinOp::Lt => o == Ordering::Less,
                BinOp::Gt => o == Ordering::Greater,
                BinOp::Le => o != Ordering::Greater,
                _ => o != Ordering::Less,
            })))
        }
        BinOp::Concat => {
            let text = |c: &[Item<'a>]| -> Result<String> {
                Ok(singleton(c, pos, sym)?
                    .and_then(Item::to_text)
                    .unwrap_or_default())
            };
            let joined = text(left)? + &text(right)?;
            check_len(joined.len(), pos)?;
            Ok(vec![Item::string(joined)])
        }
        _ => {
            let (Some(a), Some(b)) = (singleton(left, pos, sym)?, singleton(right, pos, sym)?)
            else {
                return Ok(Vec::new());
            };
            let (Some(a), Some(b)) = (a.to_system(), b.to_system()) else {
                return Err(Error::ty(pos, "arithmetic on a non-primitive value"));
            };
            arithmetic(op, &a, &b, pos)
        }
    }
}

fn logic(op: BinOp, a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match op {
        BinOp::And => match (a, b) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        BinOp::Or => match (a, b) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        BinOp::Xor => Some(a? != b?),
        _ => match (a, b) {
            (Some(false), _) | (_, Some(true)) => Some(true),
            (Some(true), Some(false)) => Some(false),
            _ => None,
        },
    }
}

/// `|`: items of both sides, duplicates removed, order kept.
pub(crate) fn union<'a>(left: &[Item<'a>], right: &[Item<'a>]) -> Collection<'a> {
    let mut out: Collection<'a> = Vec::with_capacity(left.len() + right.len());
    let mut seen = std::collections::HashSet::new();
    for item in left.iter().chain(right) {
        let fresh = match dedup_key(item) {
            Some(k) => seen.insert(k),
            None => !contains_item(&out, item),
        };
        if fresh {
            out.push(item.clone());
        }
    }
    out
}

fn membership<'a>(
    needle: &[Item<'a>],
    hay: &[Item<'a>],
    pos: usize,
    sym: &'static str,
) -> Result<Collection<'a>> {
    let Some(x) = singleton(needle, pos, sym)? else {
        return Ok(Vec::new());
    };
    Ok(vec![Item::Boolean(contains_item(hay, x))])
}

/// Unary minus.
pub(crate) fn negate<'a>(v: &[Item<'a>], pos: usize) -> Result<Collection<'a>> {
    let Some(item) = singleton(v, pos, "-")? else {
        return Ok(Vec::new());
    };
    Ok(vec![match item.to_system() {
        Some(Item::Integer(i)) => {
            Item::Integer(i.checked_neg().ok_or(Error::ty(pos, "integer overflow"))?)
        }
        Some(Item::Decimal(d)) => Item::Decimal(-d),
        Some(Item::Quantity(q)) => Item::Quantity(Box::new(Quantity::new(-q.value, q.unit))),
        _ => return Err(Error::ty(pos, "unary minus needs a number or quantity")),
    }])
}

fn num(i: &Item<'_>) -> Option<Decimal> {
    match i {
        Item::Integer(v) => Some(Decimal::from(*v)),
        Item::Decimal(d) => Some(*d),
        _ => None,
    }
}

fn dec_result<'a>(d: Option<Decimal>) -> Collection<'a> {
    d.map(Item::Decimal).into_iter().collect()
}

fn arithmetic<'a>(op: BinOp, a: &Item<'a>, b: &Item<'a>, pos: usize) -> Result<Collection<'a>> {
    let mismatch = || Err(Error::ty(pos, "operand types do not support this operator"));
    match (op, a, b) {
        (_, Item::Integer(x), Item::Integer(y)) => Ok(int_op(op, *x, *y)),
        (BinOp::Add, Item::String(x), Item::String(y)) => {
            check_len(x.len() + y.len(), pos)?;
            Ok(vec![Item::string(format!("{x}{y}"))])
        }
        (BinOp::Add | BinOp::Sub, Item::Date(d) | Item::DateTime(d), Item::Quantity(q)) => {
            let amount = date_amount(q, op, pos)?;
            let unit = q
                .cal_unit()
                .ok_or(Error::ty(pos, "date arithmetic needs a calendar duration"))?;
            let out = d.add(amount, unit);
            Ok(out
                .map(|r| {
                    if matches!(a, Item::Date(_)) {
                        Item::Date(r)
                    } else {
                        Item::DateTime(r)
                    }
                })
                .into_iter()
                .collect())
        }
        (BinOp::Add | BinOp::Sub, Item::Time(t), Item::Quantity(q)) => {
            let amount = date_amount(q, op, pos)?;
            let unit = q
                .cal_unit()
                .ok_or(Error::ty(pos, "time arithmetic needs a clock duration"))?;
            let out = t
                .add(amount, unit)
                .ok_or(Error::ty(pos, "time arithmetic needs a clock duration"))?;
            Ok(vec![Item::Time(out)])
        }
        (_, Item::Quantity(_), _) | (_, _, Item::Quantity(_)) => quantity_op(op, a, b, pos),
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => Ok(dec_op(op, x, y)),
            _ => mismatch(),
        },
    }
}

/// The whole-number amount of a duration for date arithmetic, negated for `-`.
fn date_amount(q: &Quantity, op: BinOp, pos: usize) -> Result<i64> {
    let v = q
        .value
        .trunc()
        .to_i64()
        .ok_or(Error::ty(pos, "duration out of range"))?;
    if op == BinOp::Sub {
        v.checked_neg()
            .ok_or(Error::ty(pos, "duration out of range"))
    } else {
        Ok(v)
    }
}

fn int_op<'a>(op: BinOp, x: i64, y: i64) -> Collection<'a> {
    let r = match op {
        BinOp::Add => x.checked_add(y),
        BinOp::Sub => x.checked_sub(y),
        BinOp::Mul => x.checked_mul(y),
        BinOp::IntDiv => x.checked_div(y),
        BinOp::Mod => x.checked_rem(y),
        BinOp::Div => {
            return dec_result(
                Decimal::from(x)
                    .checked_div(Decimal::from(y))
                    .map(|d| d.normalize()),
            );
        }
        _ => None,
    };
    r.map(Item::Integer).into_iter().collect()
}

fn dec_op<'a>(op: BinOp, x: Decimal, y: Decimal) -> Collection<'a> {
    match op {
        BinOp::Add => dec_result(x.checked_add(y)),
        BinOp::Sub => dec_result(x.checked_sub(y)),
        BinOp::Mul => dec_result(x.checked_mul(y)),
        BinOp::Div => dec_result(x.checked_div(y)),
        BinOp::Mod => dec_result(x.checked_rem(y)),
        BinOp::IntDiv => x
            .checked_div(y)
            .and_then(|q| q.trunc().to_i64())
            .map(Item::Integer)
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

fn quantity_op<'a>(op: BinOp, a: &Item<'a>, b: &Item<'a>, pos: usize) -> Result<Collection<'a>> {
    let quantity = |q: Option<Quantity>| -> Collection<'a> {
        q.map(|q| Item::Quantity(Box::new(q))).into_iter().collect()
    };
    let scaled = |q: &Quantity, f: Decimal, div: bool| {
        let v = if div {
            q.value.checked_div(f)
        } else {
            q.value.checked_mul(f)
        };
        v.map(|v| Quantity::new(v, q.unit.clone()))
    };
    Ok(match (op, a, b) {
        (BinOp::Add | BinOp::Sub, Item::Quantity(x), Item::Quantity(y)) => {
            let r = x.add_sub(y, op == BinOp::Add);
            if r.is_none() {
                return Err(Error::ty(pos, "quantities with incompatible units"));
            }
            quantity(r)
        }
        (BinOp::Mul | BinOp::Div, Item::Quantity(x), Item::Quantity(y)) => {
            quantity(x.mul_div(y, op == BinOp::Mul))
        }
        (BinOp::Mul, Item::Quantity(x), n) | (BinOp::Mul, n, Item::Quantity(x)) => match num(n) {
            Some(f) => quantity(scaled(x, f, false)),
            None => return Err(Error::ty(pos, "a quantity multiplies only by a number")),
        },
        (BinOp::Div, Item::Quantity(x), n) => match num(n) {
            Some(f) => quantity(scaled(x, f, true)),
            None => return Err(Error::ty(pos, "a quantity divides only by a number")),
        },
        _ => return Err(Error::ty(pos, "operand types do not support this operator")),
    })
}
