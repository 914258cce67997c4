//! Type functions (`is`, `as`, `ofType`, `type`, `conformsTo`), tree navigation, `extension()`,
//! `resolve()`, primitive helpers and the clock functions.

use std::borrow::Cow;

use serde_json::Value as Json;

use super::MAX_REPEAT_ITEMS;
use crate::ast::{Call, Func};
use crate::error::{Error, Result};
use crate::eval::{Eval, Frame, singleton};
use crate::value::{Collection, Element, Item};

const PROFILE_BASE: &str = "http://hl7.org/fhir/StructureDefinition/";

impl<'a> Eval<'a, '_> {
    pub(crate) fn call_types(
        &self,
        call: &'a Call,
        input: Collection<'a>,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        match call.func {
            Func::Is | Func::As | Func::OfType => self.type_fn(call, input, pos),
            Func::Type => Ok(input
                .iter()
                .map(|i| {
                    let (namespace, name) = i.type_of();
                    Item::TypeInfo { namespace, name }
                })
                .collect()),
            Func::ConformsTo => self.conforms_to(call, &input, f, pos),
            Func::Extension => self.extension(call, &input, f, pos),
            Func::HasValue => Ok(vec![Item::Boolean(matches!(
                singleton(&input, pos, "hasValue")?,
                Some(i) if i.is_primitive() && i.as_element().is_none_or(|e| e.value.is_some())
            ))]),
            Func::GetValue => Ok(singleton(&input, pos, "getValue")?
                .filter(|i| i.is_primitive())
                .and_then(Item::to_system)
                .into_iter()
                .collect()),
            Func::Resolve => Ok(input.iter().filter_map(|i| self.resolve(i)).collect()),
            Func::Children => {
                let mut out = Vec::new();
                for i in &input {
                    self.children_of(i, &mut out);
                }
                Ok(out)
            }
            Func::Descendants => self.descendants(&input, pos),
            Func::HtmlChecks => Ok(vec![Item::Boolean(true)]),
            Func::MemberOf => Err(Error::Unsupported {
                pos,
                what: "memberOf() needs a terminology service",
            }),
            Func::DefineVariable => Err(Error::Unsupported {
                pos,
                what: "defineVariable() is not supported",
            }),
            Func::Now | Func::Today | Func::TimeOfDay => self.clock(call.func, pos),
            _ => self.call_strings(call, input, f, pos),
        }
    }

    /// `is(T)`, `as(T)`, `ofType(T)` in function form.
    fn type_fn(&self, call: &'a Call, input: Collection<'a>, pos: usize) -> Result<Collection<'a>> {
        let ty = call.ty.as_ref().ok_or(Error::Syntax {
            pos,
            msg: "expected a type name".into(),
        })?;
        match call.func {
            Func::Is => match singleton(&input, pos, "is")? {
                Some(item) => Ok(vec![Item::Boolean(self.is_type(item, ty, pos)?)]),
                None => Ok(Vec::new()),
            },
            Func::As => match singleton(&input, pos, "as")? {
                Some(item) if self.as_type(item, ty, pos)? => Ok(input),
                Some(_) => Ok(Vec::new()),
                None => self.resolve_type(ty, pos).map(|_| Vec::new()),
            },
            _ => {
                self.resolve_type(ty, pos)?;
                let mut out = Vec::new();
                for item in input {
                    if self.as_type(&item, ty, pos)? {
                        out.push(item);
                    }
                }
                Ok(out)
            }
        }
    }

    /// `now()`, `today()`, `timeOfDay()` from the context's clock.
    fn clock(&self, func: Func, pos: usize) -> Result<Collection<'a>> {
        let now = self.ctx.now.ok_or(Error::Unsupported {
            pos,
            what: "no clock in the evaluation context",
        })?;
        Ok(vec![match func {
            Func::Now => Item::DateTime(now),
            Func::Today => Item::Date(now.date_part()),
            _ => now.time_part().map_or(Item::DateTime(now), Item::Time),
        }])
    }

    fn descendants(&self, input: &[Item<'a>], pos: usize) -> Result<Collection<'a>> {
        let mut out = Vec::new();
        let mut frontier = input.to_vec();
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for i in &frontier {
                self.children_of(i, &mut next);
            }
            out.extend(next.iter().cloned());
            if out.len() > MAX_REPEAT_ITEMS {
                return Err(Error::Limit {
                    pos,
                    what: "descendants() produced too many items",
                });
            }
            frontier = next;
        }
        Ok(out)
    }

    fn extension(
        &self,
        call: &'a Call,
        input: &[Item<'a>],
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let Some(url) = self.string_arg(call, 0, f, pos)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in input {
            let Item::Element(e) = item else { continue };
            let holders = [e.value.filter(|v| v.is_object()), e.ext];
            for holder in holders.into_iter().flatten() {
                let Some(Json::Array(exts)) = holder.get("extension") else {
                    continue;
                };
                for x in exts {
                    if x.get("url").and_then(Json::as_str) == Some(url.as_str()) {
                        out.push(Item::Element(Element {
                            value: Some(x),
                            ext: None,
                            ty: Some("Extension"),
                        }));
                    }
                }
            }
        }
        Ok(out)
    }

    fn conforms_to(
        &self,
        call: &'a Call,
        input: &[Item<'a>],
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let Some(url) = self.string_arg(call, 0, f, pos)? else {
            return Ok(Vec::new());
        };
        let name = url
            .strip_prefix(PROFILE_BASE)
            .filter(|n| self.ctx.model.is_none_or(|m| m.is_type(n)))
            .ok_or(Error::Unsupported {
                pos,
                what: "conformsTo() supports only base FHIR profiles",
            })?;
        let Some(item) = singleton(input, pos, "conformsTo")? else {
            return Ok(Vec::new());
        };
        let ty = item.as_element().and_then(|e| e.ty);
        Ok(vec![Item::Boolean(ty.is_some_and(|t| {
            crate::model::is_subtype(t, name, self.ctx.model)
        }))])
    }

    /// `resolve()` of one item: contained (`#id`), same-Bundle entries, else a typed stub
    /// inferred from the reference text (`Patient/123`, `.../Patient/123/_history/2`).
    fn resolve(&self, item: &Item<'a>) -> Option<Item<'a>> {
        let (reference, declared): (&'a str, Option<&'a str>) = match item {
            Item::Element(Element {
                value: Some(Json::Object(o)),
                ..
            }) => {
                let declared = o.get("type").and_then(Json::as_str);
                match o.get("reference").and_then(Json::as_str) {
                    Some(r) => (r, declared),
                    None => return declared.and_then(|t| self.stub(last_segment(t))),
                }
            }
            Item::Element(Element {
                value: Some(Json::String(s)),
                ..
            }) => (s.as_str(), None),
            Item::String(Cow::Borrowed(s)) => (s, None),
            _ => return None,
        };
        if let Some(id) = reference.strip_prefix('#') {
            return self.contained(id);
        }
        if let Some(found) = self.bundle_entry(reference) {
            return Some(found);
        }
        let (ty, _id) = split_reference(reference)?;
        self.stub(ty)
            .or_else(|| declared.and_then(|t| self.stub(last_segment(t))))
    }

    /// A resource known only by its type (no content): enough for `resolve() is Patient`.
    fn stub(&self, ty: &'a str) -> Option<Item<'a>> {
        let is_resource = match self.ctx.model {
            Some(m) => m.is_resource_type(ty),
            None => {
                ty.starts_with(|c: char| c.is_ascii_uppercase())
                    && ty.bytes().all(|b| b.is_ascii_alphabetic())
            }
        };
        is_resource.then_some(Item::Element(Element {
            value: None,
            ext: None,
            ty: Some(ty),
        }))
    }

    fn contained(&self, id: &str) -> Option<Item<'a>> {
        let roots = [self.ctx.resource, self.ctx.root_resource];
        let input = self
            .input
            .iter()
            .filter_map(|i| i.as_element().and_then(|e| e.value));
        for root in roots.into_iter().flatten().chain(input) {
            if id.is_empty() {
                return Some(Item::json(root));
            }
            let Some(Json::Array(cs)) = root.get("contained") else {
                continue;
            };
            if let Some(c) = cs
                .iter()
                .find(|c| c.get("id").and_then(Json::as_str) == Some(id))
            {
                return Some(Item::json(c));
            }
        }
        None
    }

    fn bundle_entry(&self, reference: &str) -> Option<Item<'a>> {
        let bundle = [self.ctx.root_resource, self.ctx.resource]
            .into_iter()
            .flatten()
            .find(|r| r.get("resourceType").and_then(Json::as_str) == Some("Bundle"))?;
        let entries = bundle.get("entry")?.as_array()?;
        let rel = split_reference(reference);
        entries.iter().find_map(|e| {
            let res = e.get("resource")?;
            let full = e.get("fullUrl").and_then(Json::as_str);
            let rt = res.get("resourceType").and_then(Json::as_str);
            let id = res.get("id").and_then(Json::as_str);
            let by_type = rel.is_some_and(|(t, i)| rt == Some(t) && id == Some(i));
            (full == Some(reference) || by_type).then(|| Item::json(res))
        })
    }
}

fn last_segment(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// `Type/id` of a relative or absolute reference, ignoring `/_history/..` and query parts.
pub(crate) fn split_reference(r: &str) -> Option<(&str, &str)> {
    let r = r.split(['?', '#']).next().unwrap_or(r);
    let r = match r.find("/_history/") {
        Some(i) => r.get(..i)?,
        None => r,
    };
    let mut parts = r.rsplit('/');
    let id = parts.next()?;
    let ty = parts.next()?;
    let valid_id = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    let valid_ty = ty.starts_with(|c: char| c.is_ascii_uppercase())
        && ty.bytes().all(|b| b.is_ascii_alphabetic());
    (valid_id && valid_ty).then_some((ty, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split() {
        assert_eq!(split_reference("Patient/123"), Some(("Patient", "123")));
        assert_eq!(
            split_reference("http://x.org/fhir/Patient/1/_history/2"),
            Some(("Patient", "1"))
        );
        assert_eq!(split_reference("urn:uuid:1234"), None);
        assert_eq!(split_reference("patient/1"), None);
        assert_eq!(split_reference("Patient/"), None);
    }
}
