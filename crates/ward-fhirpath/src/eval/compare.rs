//! Equality (`=`), equivalence (`~`) and ordering of items, with FHIRPath's implicit conversions.

use std::cmp::Ordering;

use rust_decimal::Decimal;
use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::quantity::Quantity;
use crate::temporal::{DateTime, Time};
use crate::value::Item;

/// System values of `a` and `b`; an untyped JSON string next to a date/time is parsed as one.
fn system_pair<'a>(a: &Item<'a>, b: &Item<'a>) -> (Option<Item<'a>>, Option<Item<'a>>) {
    let (mut x, mut y) = (a.to_system(), b.to_system());
    if a.is_untyped_string() {
        x = coerce_like(x, y.as_ref());
    }
    if b.is_untyped_string() {
        y = coerce_like(y, x.as_ref());
    }
    (x, y)
}

fn coerce_like<'a>(v: Option<Item<'a>>, like: Option<&Item<'_>>) -> Option<Item<'a>> {
    let Some(Item::String(s)) = &v else { return v };
    let parsed = match like {
        Some(Item::Date(_) | Item::DateTime(_)) => DateTime::parse_datetime(s).map(|d| {
            if d.has_time() {
                Item::DateTime(d)
            } else {
                Item::Date(d)
            }
        }),
        Some(Item::Time(_)) => Time::parse(s).map(Item::Time),
        _ => None,
    };
    parsed.or(v)
}

fn as_decimal(i: &Item<'_>) -> Option<Decimal> {
    match i {
        Item::Integer(v) => Some(Decimal::from(*v)),
        Item::Decimal(d) => Some(*d),
        _ => None,
    }
}

fn as_quantity(i: &Item<'_>) -> Option<Quantity> {
    match i {
        Item::Quantity(q) => Some((**q).clone()),
        other => as_decimal(other).map(|d| Quantity::new(d, "1")),
    }
}

fn temporal_cmp(a: &Item<'_>, b: &Item<'_>) -> Option<Option<Ordering>> {
    match (a, b) {
        (Item::Date(x) | Item::DateTime(x), Item::Date(y) | Item::DateTime(y)) => {
            Some(x.compare(y))
        }
        (Item::Time(x), Item::Time(y)) => Some(x.compare(y)),
        _ => None,
    }
}

/// Deep equality of two complex elements (value and primitive extension).
fn element_eq(a: &Item<'_>, b: &Item<'_>) -> Option<bool> {
    match (a, b) {
        (Item::Element(x), Item::Element(y)) => Some(x.value == y.value && x.ext == y.ext),
        _ => None,
    }
}

/// FHIRPath `=` on two items: `Some(bool)`, or `None` when unknown (precision, units).
pub(crate) fn item_eq(a: &Item<'_>, b: &Item<'_>) -> Option<bool> {
    if !a.is_primitive() || !b.is_primitive() {
        return Some(element_eq(a, b).unwrap_or(false));
    }
    let (Some(x), Some(y)) = system_pair(a, b) else {
        return Some(false);
    };
    if let Some(ord) = temporal_cmp(&x, &y) {
        return ord.map(|o| o == Ordering::Equal);
    }
    Some(match (&x, &y) {
        (Item::Boolean(p), Item::Boolean(q)) => p == q,
        (Item::String(p), Item::String(q)) => p == q,
        (Item::Integer(p), Item::Integer(q)) => p == q,
        (Item::Quantity(_), _) | (_, Item::Quantity(_)) => {
            let (p, q) = (as_quantity(&x)?, as_quantity(&y)?);
            return p.compare(&q).map(|o| o == Ordering::Equal);
        }
        _ => match (as_decimal(&x), as_decimal(&y)) {
            (Some(p), Some(q)) => p == q,
            _ => x == y,
        },
    })
}

fn normalize_ws(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// FHIRPath `~` on two items (never unknown).
pub(crate) fn item_equiv(a: &Item<'_>, b: &Item<'_>) -> bool {
    if !a.is_primitive() || !b.is_primitive() {
        return element_equiv(a, b);
    }
    let (Some(x), Some(y)) = system_pair(a, b) else {
        return false;
    };
    if let Some(ord) = temporal_cmp(&x, &y) {
        return ord == Some(Ordering::Equal);
    }
    match (&x, &y) {
        (Item::String(p), Item::String(q)) => normalize_ws(p) == normalize_ws(q),
        (Item::Quantity(_), _) | (_, Item::Quantity(_)) => {
            matches!((as_quantity(&x), as_quantity(&y)), (Some(p), Some(q)) if p.equivalent(&q))
        }
        _ => match (as_decimal(&x), as_decimal(&y)) {
            (Some(p), Some(q)) => {
                let scale = p.scale().min(q.scale());
                p.round_dp(scale) == q.round_dp(scale)
            }
            _ => x == y,
        },
    }
}

fn element_equiv(a: &Item<'_>, b: &Item<'_>) -> bool {
    match (a, b) {
        (Item::Element(x), Item::Element(y)) => match (x.value, y.value) {
            (Some(Json::Object(p)), Some(Json::Object(q))) => {
                let keys =
                    |m: &serde_json::Map<String, Json>| m.keys().filter(|k| *k != "id").count();
                keys(p) == keys(q)
                    && p.iter()
                        .filter(|(k, _)| *k != "id")
                        .all(|(k, v)| q.get(k).is_some_and(|w| json_equiv(v, w)))
            }
            (p, q) => p == q,
        },
        _ => false,
    }
}

fn json_equiv(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::String(p), Json::String(q)) => normalize_ws(p) == normalize_ws(q),
        (Json::Array(p), Json::Array(q)) => {
            p.len() == q.len() && p.iter().zip(q).all(|(x, y)| json_equiv(x, y))
        }
        (Json::Object(p), Json::Object(q)) => {
            p.len() == q.len()
                && p.iter()
                    .all(|(k, v)| q.get(k).is_some_and(|w| json_equiv(v, w)))
        }
        _ => a == b,
    }
}

/// FHIRPath ordering for `<`, `>`, `<=`, `>=`: `None` when unknown; an error when the types
/// cannot be compared.
pub(crate) fn item_cmp(a: &Item<'_>, b: &Item<'_>, pos: usize) -> Result<Option<Ordering>> {
    let (Some(x), Some(y)) = system_pair(a, b) else {
        return Err(Error::ty(pos, "operands cannot be compared"));
    };
    if let Some(ord) = temporal_cmp(&x, &y) {
        return Ok(ord);
    }
    match (&x, &y) {
        (Item::String(p), Item::String(q)) => Ok(Some(p.cmp(q))),
        (Item::Quantity(_), _) | (_, Item::Quantity(_)) => match (as_quantity(&x), as_quantity(&y))
        {
            (Some(p), Some(q)) => Ok(p.compare(&q)),
            _ => Err(Error::ty(pos, "operands cannot be compared")),
        },
        _ => match (as_decimal(&x), as_decimal(&y)) {
            (Some(p), Some(q)) => Ok(Some(p.cmp(&q))),
            _ => Err(Error::ty(pos, "operands cannot be compared")),
        },
    }
}

/// `=` over collections: empty if either side is empty; order matters.
pub(crate) fn collection_eq(a: &[Item<'_>], b: &[Item<'_>]) -> Option<bool> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if a.len() != b.len() {
        return Some(false);
    }
    let mut unknown = false;
    for (x, y) in a.iter().zip(b) {
        match item_eq(x, y) {
            Some(false) => return Some(false),
            None => unknown = true,
            Some(true) => {}
        }
    }
    (!unknown).then_some(true)
}

/// `~` over collections: order does not matter; two empty collections are equivalent.
pub(crate) fn collection_equiv(a: &[Item<'_>], b: &[Item<'_>]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let found = b
            .iter()
            .zip(used.iter_mut())
            .find(|(y, u)| !**u && item_equiv(x, y));
        match found {
            Some((_, u)) => {
                *u = true;
                true
            }
            None => false,
        }
    })
}

/// True if `coll` has an item equal to `x` (used by `in`, `contains`, `distinct`, `union`).
pub(crate) fn contains_item(coll: &[Item<'_>], x: &Item<'_>) -> bool {
    coll.iter().any(|y| item_eq(x, y) == Some(true))
}

/// A hashable stand-in for FHIRPath equality, for de-duplicating large collections in linear
/// time: primitives by their normalized System value, complex elements by identity (the same
/// JSON node). Two distinct complex nodes with equal content are therefore kept apart, and so
/// are quantities written in different units.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) enum DedupKey {
    Node(usize, usize),
    Value(&'static str, String),
}

pub(crate) fn dedup_key(item: &Item<'_>) -> Option<DedupKey> {
    if let Item::Element(e) = item
        && !item.is_primitive()
    {
        let addr = |v: Option<&Json>| v.map_or(0, |v| std::ptr::from_ref(v) as usize);
        return Some(DedupKey::Node(addr(e.value), addr(e.ext)));
    }
    Some(match item.to_system()? {
        Item::Integer(i) => DedupKey::Value("n", Decimal::from(i).normalize().to_string()),
        Item::Decimal(d) => DedupKey::Value("n", d.normalize().to_string()),
        other => {
            let (_, ty) = other.type_of();
            let tag = match ty.as_ref() {
                "Boolean" => "b",
                "String" => "s",
                "Date" | "DateTime" => "d",
                "Time" => "t",
                _ => "q",
            };
            DedupKey::Value(tag, other.to_text()?)
        }
    })
}
