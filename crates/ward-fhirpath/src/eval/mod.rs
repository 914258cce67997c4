//! The tree-walking evaluator: terms, paths, variables, indexers and operators.

pub(crate) mod compare;
pub(crate) mod ops;

use std::borrow::Cow;

use serde_json::Value as Json;

use crate::ast::{BinOp, Func, Kind, Node, TypeSpec};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::model::{SYSTEM_TYPES, is_subtype, primitive_name};
use crate::value::{Collection, Element, Item};

/// One evaluation: the context plus the `%context` input.
pub(crate) struct Eval<'a, 'c> {
    pub ctx: &'c Context<'a>,
    pub input: &'c [Item<'a>],
}

/// The iteration scope: `$this`, `$index`, `$total`.
#[derive(Clone, Copy)]
pub(crate) struct Frame<'a, 'f> {
    pub this: &'f [Item<'a>],
    pub index: Option<usize>,
    pub total: Option<&'f [Item<'a>]>,
}

impl<'a, 'f> Frame<'a, 'f> {
    /// A scope whose `$this` is `this`, keeping `$total`.
    pub fn with_this(&self, this: &'f [Item<'a>], index: Option<usize>) -> Self {
        Frame {
            this,
            index,
            total: self.total,
        }
    }
}

/// Returns the single item of `c`; `None` if empty; an error if there are several.
pub(crate) fn singleton<'c, 'a>(
    c: &'c [Item<'a>],
    pos: usize,
    what: &'static str,
) -> Result<Option<&'c Item<'a>>> {
    match c {
        [] => Ok(None),
        [x] => Ok(Some(x)),
        _ => Err(Error::single(pos, what)),
    }
}

fn resource_element(v: &Json) -> Item<'_> {
    Item::json(v)
}

impl<'a> Eval<'a, '_> {
    /// Evaluates `node` in scope `f`.
    pub(crate) fn eval(&self, node: &'a Node, f: &Frame<'a, '_>) -> Result<Collection<'a>> {
        let pos = node.pos;
        let one = |i: Item<'a>| Ok(vec![i]);
        match &node.kind {
            Kind::Empty => Ok(Vec::new()),
            Kind::Bool(b) => one(Item::Boolean(*b)),
            Kind::Int(i) => one(Item::Integer(*i)),
            Kind::Dec(d) => one(Item::Decimal(*d)),
            Kind::Str(s) => one(Item::String(Cow::Borrowed(s))),
            Kind::Date(d) => one(Item::Date(*d)),
            Kind::DateTime(d) => one(Item::DateTime(*d)),
            Kind::Time(t) => one(Item::Time(*t)),
            Kind::Quantity(q) => one(Item::Quantity(Box::new(q.clone()))),
            Kind::Ident(name) => self.ident(name, f.this, pos),
            Kind::This => Ok(f.this.to_vec()),
            Kind::Index => Ok(f
                .index
                .and_then(|i| i64::try_from(i).ok())
                .map(Item::Integer)
                .into_iter()
                .collect()),
            Kind::Total => Ok(f.total.map(<[Item<'a>]>::to_vec).unwrap_or_default()),
            Kind::Env(name) => self.env(name, pos),
            Kind::Member(target, name) => {
                let base = self.eval(target, f)?;
                if base.is_empty() && self.ctx.strict {
                    self.check_cast_member(target, name, pos)?;
                }
                self.navigate(&base, name, pos)
            }
            Kind::Call(call) => self.call(call, f, pos),
            Kind::Indexer(target, index) => self.indexer(target, index, f, pos),
            Kind::Neg(inner) => {
                let v = self.eval(inner, f)?;
                ops::negate(&v, pos)
            }
            Kind::Binary(op, a, b) => self.binary(*op, a, b, f, pos),
            Kind::TypeOp { is, operand, ty } => {
                let v = self.eval(operand, f)?;
                let Some(item) = singleton(&v, pos, if *is { "is" } else { "as" })? else {
                    return Ok(Vec::new());
                };
                if *is {
                    Ok(vec![Item::Boolean(self.is_type(item, ty, pos)?)])
                } else {
                    Ok(if self.as_type(item, ty, pos)? {
                        v
                    } else {
                        Vec::new()
                    })
                }
            }
        }
    }

    /// Strict mode: `(x as T).name` must name an element of `T`, even when the cast is empty.
    fn check_cast_member(&self, target: &Node, name: &str, pos: usize) -> Result<()> {
        let ty = match &target.kind {
            Kind::TypeOp { is: false, ty, .. } => ty,
            Kind::Call(c) if matches!(c.func, Func::As | Func::OfType) => match &c.ty {
                Some(t) => t,
                None => return Ok(()),
            },
            _ => return Ok(()),
        };
        let Some(model) = self.ctx.model else {
            return Ok(());
        };
        if model.is_type(&ty.name) && model.element_type(&ty.name, name).is_none() {
            return Err(Error::UnknownElement {
                pos,
                name: name.to_owned(),
                parent: ty.name.clone(),
            });
        }
        Ok(())
    }

    /// An identifier at the start of a path: a type name matching `$this`, or a child element.
    fn ident(&self, name: &str, this: &[Item<'a>], pos: usize) -> Result<Collection<'a>> {
        if name.starts_with(|c: char| c.is_ascii_uppercase()) {
            let matched: Collection<'a> = this
                .iter()
                .filter(|i| {
                    i.as_element()
                        .and_then(|e| e.ty)
                        .is_some_and(|t| is_subtype(t, name, self.ctx.model))
                })
                .cloned()
                .collect();
            if !matched.is_empty() {
                return Ok(matched);
            }
            let is_type = self.ctx.model.is_some_and(|m| m.is_resource_type(name));
            if is_type {
                if self.ctx.strict && !this.is_empty() {
                    return Err(Error::ty(
                        pos,
                        "the input is not of the named resource type",
                    ));
                }
                return Ok(Vec::new());
            }
        }
        self.navigate(this, name, pos)
    }

    fn env(&self, name: &str, pos: usize) -> Result<Collection<'a>> {
        let ctx = self.ctx;
        let s = |v: &'static str| Ok(vec![Item::string(v)]);
        match name {
            "context" => Ok(self.input.to_vec()),
            "resource" => Ok(ctx.resource.map(resource_element).into_iter().collect()),
            "rootResource" => Ok(ctx
                .root_resource
                .or(ctx.resource)
                .map(resource_element)
                .into_iter()
                .collect()),
            "ucum" => s("http://unitsofmeasure.org"),
            "sct" => s("http://snomed.info/sct"),
            "loinc" => s("http://loinc.org"),
            _ => {
                if let Some(v) = ctx.variable(name) {
                    return Ok(v.clone());
                }
                if let Some(id) = name.strip_prefix("vs-") {
                    return Ok(vec![Item::string(format!(
                        "http://hl7.org/fhir/ValueSet/{id}"
                    ))]);
                }
                if let Some(id) = name.strip_prefix("ext-") {
                    return Ok(vec![Item::string(format!(
                        "http://hl7.org/fhir/StructureDefinition/{id}"
                    ))]);
                }
                Err(Error::UnknownVariable {
                    pos,
                    name: name.to_owned(),
                })
            }
        }
    }

    fn indexer(
        &self,
        target: &'a Node,
        index: &'a Node,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let base = self.eval(target, f)?;
        let idx = self.eval(index, f)?;
        let Some(i) = singleton(&idx, pos, "[]")? else {
            return Ok(Vec::new());
        };
        let Some(Item::Integer(i)) = i.to_system() else {
            return Err(Error::ty(pos, "an index must be an Integer"));
        };
        Ok(usize::try_from(i)
            .ok()
            .and_then(|i| base.get(i))
            .cloned()
            .into_iter()
            .collect())
    }

    fn binary(
        &self,
        op: BinOp,
        a: &'a Node,
        b: &'a Node,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let left = self.eval(a, f)?;
        // Short-circuit where the left operand decides (errors on the right are then skipped).
        let decided = match op {
            BinOp::And => ops::to_bool3(&left, pos, "and")? == Some(false),
            BinOp::Or => ops::to_bool3(&left, pos, "or")? == Some(true),
            BinOp::Implies => ops::to_bool3(&left, pos, "implies")? == Some(false),
            _ => false,
        };
        if decided {
            return Ok(vec![Item::Boolean(op != BinOp::And)]);
        }
        let right = self.eval(b, f)?;
        ops::binary(op, &left, &right, pos)
    }

    /// Resolves a type specifier to `(namespace, name)`, rejecting unknown names when a model can
    /// tell. An unqualified name is looked up in FHIR first, then System.
    pub(crate) fn resolve_type<'t>(
        &self,
        ty: &'t TypeSpec,
        pos: usize,
    ) -> Result<(Option<&'t str>, &'t str)> {
        let name = ty.name.as_str();
        let ns = ty.namespace.as_deref();
        let known = match ns {
            // No System type has subtypes or instances beyond the fixed list: just "no match".
            Some("System") => true,
            Some("FHIR") | None => {
                let fhir = primitive_name(name).is_some()
                    || self.ctx.model.is_none_or(|m| m.is_type(name));
                fhir || (ns.is_none() && SYSTEM_TYPES.contains(&name))
            }
            Some(_) => false,
        };
        if !known {
            return Err(Error::UnknownType {
                pos,
                name: name.to_owned(),
            });
        }
        Ok((ns, name))
    }

    /// FHIRPath `is`: exact type or a subtype.
    pub(crate) fn is_type(&self, item: &Item<'a>, ty: &TypeSpec, pos: usize) -> Result<bool> {
        let (ns, name) = self.resolve_type(ty, pos)?;
        Ok(self.type_matches(item, ns, name, true))
    }

    /// FHIRPath `as` / `ofType`: exact primitive type, or a complex type or subtype of it.
    pub(crate) fn as_type(&self, item: &Item<'a>, ty: &TypeSpec, pos: usize) -> Result<bool> {
        let (ns, name) = self.resolve_type(ty, pos)?;
        let sub = primitive_name(name).is_none();
        Ok(self.type_matches(item, ns, name, sub))
    }

    fn type_matches(&self, item: &Item<'a>, ns: Option<&str>, name: &str, subtypes: bool) -> bool {
        let (item_ns, item_ty) = item.type_of();
        let ns_ok = ns.is_none_or(|n| n == item_ns);
        if !ns_ok {
            return false;
        }
        if item_ns == "System" {
            return item_ty == name || name == "Any";
        }
        if subtypes {
            is_subtype(&item_ty, name, self.ctx.model)
        } else {
            item_ty == name
        }
    }

    /// The root input as an element typed by its `resourceType`.
    pub(crate) fn root(input: &'a Json) -> Item<'a> {
        let ty = input.get("resourceType").and_then(Json::as_str);
        Item::Element(Element {
            value: Some(input),
            ext: None,
            ty,
        })
    }
}
