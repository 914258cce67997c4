//! Function dispatch, and the existence, filtering, subsetting and combining functions.

pub(crate) mod convert;
pub(crate) mod math;
pub(crate) mod strings;
pub(crate) mod types;

use std::cmp::Ordering;

use crate::ast::{Call, Func, Kind, Node};
use crate::error::{Error, Result};
use crate::eval::compare::{contains_item, dedup_key, item_cmp};
use crate::eval::ops::{to_bool3, union};
use crate::eval::{Eval, Frame, singleton};
use crate::value::{Collection, Item};

/// Most items `repeat()` / `descendants()` may produce before failing with `FP-LIMIT`.
pub(crate) const MAX_REPEAT_ITEMS: usize = 100_000;

/// Largest collection `select()` / `combine()` may build (nested selects could grow
/// exponentially).
pub(crate) const MAX_ITEMS: usize = 1_000_000;

pub(crate) fn check_size(len: usize, pos: usize) -> Result<()> {
    if len > MAX_ITEMS {
        return Err(Error::Limit {
            pos,
            what: "collection too large",
        });
    }
    Ok(())
}

pub(crate) fn arg(call: &Call, i: usize, pos: usize) -> Result<&Node> {
    call.args.get(i).ok_or(Error::Arity {
        pos,
        name: call.func.name().to_owned(),
    })
}

fn bools<'a>(b: bool) -> Result<Collection<'a>> {
    Ok(vec![Item::Boolean(b)])
}

impl<'a> Eval<'a, '_> {
    /// Evaluates a function call.
    pub(crate) fn call(
        &self,
        call: &'a Call,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        if self.ctx.strict {
            check_ordered(call, pos)?;
        }
        let input: Collection<'a> = match &call.target {
            Some(t) => self.eval(t, f)?,
            None => f.this.to_vec(),
        };
        match call.func {
            Func::Empty => bools(input.is_empty()),
            Func::Exists => match call.args.first() {
                None => bools(!input.is_empty()),
                Some(c) => bools(!self.filter(&input, c, f, pos)?.is_empty()),
            },
            Func::All => self.all(&input, arg(call, 0, pos)?, f, pos),
            Func::AllTrue => all_bools(&input, pos, |b| b, true),
            Func::AnyTrue => all_bools(&input, pos, |b| b, false),
            Func::AllFalse => all_bools(&input, pos, |b| !b, true),
            Func::AnyFalse => all_bools(&input, pos, |b| !b, false),
            Func::SubsetOf | Func::SupersetOf => {
                let other = self.eval(arg(call, 0, pos)?, f)?;
                let (sub, sup) = if call.func == Func::SubsetOf {
                    (&input, &other)
                } else {
                    (&other, &input)
                };
                bools(sub.iter().all(|x| contains_item(sup, x)))
            }
            Func::Count => Ok(vec![Item::Integer(
                i64::try_from(input.len()).unwrap_or(i64::MAX),
            )]),
            Func::Distinct => Ok(union(&input, &[])),
            Func::IsDistinct => bools(union(&input, &[]).len() == input.len()),
            Func::Where => self.filter(&input, arg(call, 0, pos)?, f, pos),
            Func::Select => self.select(&input, arg(call, 0, pos)?, f),
            Func::Repeat | Func::RepeatAll => self.repeat(
                &input,
                arg(call, 0, pos)?,
                f,
                pos,
                call.func == Func::Repeat,
            ),
            Func::Aggregate => self.aggregate(call, &input, f, pos),
            Func::Iif => self.iif(call, &input, f, pos),
            Func::Sort => self.sort(call, input, f, pos),
            Func::Trace => self.trace(call, input, f, pos),
            _ => self.call_subsetting(call, input, f, pos),
        }
    }

    fn call_subsetting(
        &self,
        call: &'a Call,
        input: Collection<'a>,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        match call.func {
            Func::Single => Ok(singleton(&input, pos, "single")?
                .cloned()
                .into_iter()
                .collect()),
            Func::First => Ok(input.into_iter().take(1).collect()),
            Func::Last => Ok(input.last().cloned().into_iter().collect()),
            Func::Tail => Ok(input.into_iter().skip(1).collect()),
            Func::Skip | Func::Take => {
                let n = self.integer_arg(call, 0, f, pos)?;
                let n = usize::try_from(n.unwrap_or(0).max(0)).unwrap_or(usize::MAX);
                Ok(if call.func == Func::Skip {
                    input.into_iter().skip(n).collect()
                } else {
                    input.into_iter().take(n).collect()
                })
            }
            Func::Intersect | Func::Exclude => {
                let other = self.eval(arg(call, 0, pos)?, f)?;
                let keep = call.func == Func::Intersect;
                let mut out: Collection<'a> = Vec::new();
                for x in input {
                    if contains_item(&other, &x) == keep && !(keep && contains_item(&out, &x)) {
                        out.push(x);
                    }
                }
                Ok(out)
            }
            Func::Union => Ok(union(&input, &self.eval(arg(call, 0, pos)?, f)?)),
            Func::Combine => {
                let mut out = input;
                out.extend(self.eval(arg(call, 0, pos)?, f)?);
                check_size(out.len(), pos)?;
                Ok(out)
            }
            Func::Not => match to_bool3(&input, pos, "not")? {
                Some(b) => bools(!b),
                None => Ok(Vec::new()),
            },
            _ => self.call_types(call, input, f, pos),
        }
    }

    /// `all(criteria)`: true when the criteria is true for every item (and for no items).
    fn all(
        &self,
        input: &[Item<'a>],
        c: &'a Node,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        for (i, item) in input.iter().enumerate() {
            let r = self.eval(c, &f.with_this(std::slice::from_ref(item), Some(i)))?;
            if to_bool3(&r, pos, "all")? != Some(true) {
                return bools(false);
            }
        }
        bools(true)
    }

    /// `trace(name[, projection])`: hands items to the context's tracer; returns the input.
    fn trace(
        &self,
        call: &'a Call,
        input: Collection<'a>,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let name = self.string_arg(call, 0, f, pos)?.unwrap_or_default();
        if let Some(t) = self.ctx.tracer {
            match call.args.get(1) {
                Some(p) => t(&name, &self.select(&input, p, f)?),
                None => t(&name, &input),
            }
        }
        Ok(input)
    }

    /// `where(criteria)`.
    pub(crate) fn filter(
        &self,
        input: &[Item<'a>],
        c: &'a Node,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let mut out = Vec::new();
        for (i, item) in input.iter().enumerate() {
            let r = self.eval(c, &f.with_this(std::slice::from_ref(item), Some(i)))?;
            if to_bool3(&r, pos, "where")? == Some(true) {
                out.push(item.clone());
            }
        }
        Ok(out)
    }

    /// `select(projection)`: results flattened in order.
    pub(crate) fn select(
        &self,
        input: &[Item<'a>],
        p: &'a Node,
        f: &Frame<'a, '_>,
    ) -> Result<Collection<'a>> {
        let mut out = Vec::new();
        for (i, item) in input.iter().enumerate() {
            out.extend(self.eval(p, &f.with_this(std::slice::from_ref(item), Some(i)))?);
            check_size(out.len(), p.pos)?;
        }
        Ok(out)
    }

    fn repeat(
        &self,
        input: &[Item<'a>],
        p: &'a Node,
        f: &Frame<'a, '_>,
        pos: usize,
        unique: bool,
    ) -> Result<Collection<'a>> {
        let mut out: Collection<'a> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut frontier: Collection<'a> = input.to_vec();
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for item in &frontier {
                for r in self.eval(p, &f.with_this(std::slice::from_ref(item), None))? {
                    if unique {
                        let fresh = match dedup_key(&r) {
                            Some(k) => seen.insert(k),
                            None => !contains_item(&out, &r),
                        };
                        if !fresh {
                            continue;
                        }
                    }
                    out.push(r.clone());
                    next.push(r);
                    if out.len() > MAX_REPEAT_ITEMS {
                        return Err(Error::Limit {
                            pos,
                            what: "repeat() produced too many items",
                        });
                    }
                }
            }
            frontier = next;
        }
        Ok(out)
    }

    fn aggregate(
        &self,
        call: &'a Call,
        input: &[Item<'a>],
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let agg = arg(call, 0, pos)?;
        let mut total = match call.args.get(1) {
            Some(init) => self.eval(init, f)?,
            None => Vec::new(),
        };
        for (i, item) in input.iter().enumerate() {
            let frame = Frame {
                this: std::slice::from_ref(item),
                index: Some(i),
                total: Some(&total),
            };
            total = self.eval(agg, &frame)?;
        }
        Ok(total)
    }

    fn iif(
        &self,
        call: &'a Call,
        input: &[Item<'a>],
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let frame = if call.target.is_some() {
            if input.len() > 1 {
                return Err(Error::single(pos, "iif"));
            }
            f.with_this(input, None)
        } else {
            *f
        };
        let cond = self.eval(arg(call, 0, pos)?, &frame)?;
        if self.ctx.strict
            && cond
                .iter()
                .any(|c| !matches!(c.to_system(), Some(Item::Boolean(_))))
        {
            return Err(Error::ty(pos, "iif criterion must be Boolean"));
        }
        if to_bool3(&cond, pos, "iif")? == Some(true) {
            self.eval(arg(call, 1, pos)?, &frame)
        } else {
            match call.args.get(2) {
                Some(e) => self.eval(e, &frame),
                None => Ok(Vec::new()),
            }
        }
    }

    /// `sort(keys...)`: stable; a key written `-expr` sorts descending.
    fn sort(
        &self,
        call: &'a Call,
        input: Collection<'a>,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let keys: Vec<(&'a Node, bool)> = call
            .args
            .iter()
            .map(|a| match &a.kind {
                Kind::Neg(inner) => (&**inner, true),
                _ => (a, false),
            })
            .collect();
        let mut keyed = Vec::with_capacity(input.len());
        for (i, item) in input.into_iter().enumerate() {
            let mut values = Vec::with_capacity(keys.len().max(1));
            if keys.is_empty() {
                values.push(Some(item.clone()));
            }
            for (k, _) in &keys {
                let r = self.eval(k, &f.with_this(std::slice::from_ref(&item), Some(i)))?;
                values.push(singleton(&r, pos, "sort")?.cloned());
            }
            keyed.push((values, item));
        }
        let mut err = None;
        keyed.sort_by(|(ka, _), (kb, _)| {
            for (n, (a, b)) in ka.iter().zip(kb).enumerate() {
                let ord = match (a, b) {
                    (None, None) => Some(Ordering::Equal),
                    (None, _) => Some(Ordering::Less),
                    (_, None) => Some(Ordering::Greater),
                    (Some(x), Some(y)) => item_cmp(x, y, pos).unwrap_or_else(|e| {
                        err.get_or_insert(e);
                        None
                    }),
                }
                .unwrap_or(Ordering::Equal);
                // Empty keys sort first in either direction.
                let desc = keys.get(n).is_some_and(|(_, d)| *d) && a.is_some() && b.is_some();
                if ord != Ordering::Equal {
                    return if desc { ord.reverse() } else { ord };
                }
            }
            Ordering::Equal
        });
        match err {
            Some(e) => Err(e),
            None => Ok(keyed.into_iter().map(|(_, i)| i).collect()),
        }
    }

    /// Evaluates argument `i` to an optional single Integer.
    pub(crate) fn integer_arg(
        &self,
        call: &'a Call,
        i: usize,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Option<i64>> {
        let v = self.eval(arg(call, i, pos)?, f)?;
        match singleton(&v, pos, call.func.name_static())?.map(Item::to_system) {
            None => Ok(None),
            Some(Some(Item::Integer(n))) => Ok(Some(n)),
            Some(_) => Err(Error::ty(pos, "argument must be an Integer")),
        }
    }

    /// Evaluates argument `i` to an optional single String.
    pub(crate) fn string_arg(
        &self,
        call: &'a Call,
        i: usize,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Option<String>> {
        let v = self.eval(arg(call, i, pos)?, f)?;
        match singleton(&v, pos, call.func.name_static())? {
            None => Ok(None),
            Some(item) => item
                .as_str()
                .map(|s| Some(s.to_owned()))
                .ok_or(Error::ty(pos, "argument must be a String")),
        }
    }
}

impl Func {
    pub(crate) fn name_static(self) -> &'static str {
        self.name()
    }
}

/// Strict mode: order-dependent functions may not follow `children()` / `descendants()`,
/// whose output order the specification leaves undefined.
fn check_ordered(call: &Call, pos: usize) -> Result<()> {
    let ordered = matches!(
        call.func,
        Func::Skip | Func::Take | Func::First | Func::Last | Func::Tail
    );
    let unordered_input = matches!(
        call.target.as_ref().map(|t| &t.kind),
        Some(Kind::Call(c)) if matches!(c.func, Func::Children | Func::Descendants)
    );
    if ordered && unordered_input {
        return Err(Error::ty(
            pos,
            "ordered function applied to an unordered collection",
        ));
    }
    Ok(())
}

fn all_bools<'a>(
    input: &[Item<'a>],
    pos: usize,
    test: fn(bool) -> bool,
    all: bool,
) -> Result<Collection<'a>> {
    let mut vals = Vec::with_capacity(input.len());
    for i in input {
        match i.to_system() {
            Some(Item::Boolean(b)) => vals.push(test(b)),
            _ => return Err(Error::ty(pos, "expected a collection of Booleans")),
        }
    }
    bools(if all {
        vals.iter().all(|b| *b)
    } else {
        vals.iter().any(|b| *b)
    })
}
