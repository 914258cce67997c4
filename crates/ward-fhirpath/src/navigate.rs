//! Navigation from an element to its children, typed by the model or inferred from the JSON.
//!
//! Choice elements (`value[x]`) are found by the property name plus a capitalised type suffix,
//! primitive extensions by the `_name` sibling, and resources by their `resourceType`.

use serde_json::{Map, Value as Json};

use crate::error::{Error, Result};
use crate::eval::Eval;
use crate::model::{ElementType, choice_type_name};
use crate::value::{Collection, Element, Item};

/// Calls `f` with `_name`, built without a heap allocation for usual lengths.
fn with_underscore<R>(name: &str, f: impl FnOnce(&str) -> R) -> R {
    let mut buf = [b'_'; 80];
    let n = name.len();
    if let Some(dst) = buf.get_mut(1..=n) {
        dst.copy_from_slice(name.as_bytes());
        if let Some(Ok(key)) = buf.get(..=n).map(std::str::from_utf8) {
            return f(key);
        }
    }
    f(&format!("_{name}"))
}

/// The type of a JSON value found under an element of declared type `declared`.
fn value_type<'a>(v: &'a Json, declared: Option<&'a str>) -> Option<&'a str> {
    match v.get("resourceType").and_then(Json::as_str) {
        Some(rt) => Some(rt),
        None => declared,
    }
}

/// Pushes the values of `obj[key]` (with their `_key` extensions) typed `ty`.
fn push_values<'a>(
    obj: &'a Map<String, Json>,
    key: &str,
    ty: Option<&'a str>,
    out: &mut Collection<'a>,
) {
    let value = obj.get(key);
    let ext = with_underscore(key, |k| obj.get(k));
    let elem = |v: Option<&'a Json>, e: Option<&'a Json>| {
        let v = v.filter(|v| !v.is_null());
        let e = e.filter(|e| !e.is_null());
        (v.is_some() || e.is_some()).then(|| {
            Item::Element(Element {
                value: v,
                ext: e,
                ty: v.map_or(ty, |v| value_type(v, ty)),
            })
        })
    };
    match (value, ext) {
        (Some(Json::Array(vs)), e) => {
            let es = e.and_then(Json::as_array);
            for (i, v) in vs.iter().enumerate() {
                out.extend(elem(Some(v), es.and_then(|es| es.get(i))));
            }
        }
        (None, Some(Json::Array(es))) => {
            for e in es {
                out.extend(elem(None, Some(e)));
            }
        }
        (v, e) => out.extend(elem(v, e)),
    }
}

/// Types one concrete choice property (`valueQuantity` → `Quantity`) through the model.
type ChoiceTyper<'t, 'a> = &'t dyn Fn(&str) -> Option<&'a str>;

/// Pushes every `name<Type>` property of `obj`, typed by `typer` (the model) or by the suffix.
fn push_choice<'a>(
    obj: &'a Map<String, Json>,
    name: &str,
    typer: Option<ChoiceTyper<'_, 'a>>,
    out: &mut Collection<'a>,
) {
    for key in obj.keys() {
        let Some(suffix) = key.strip_prefix(name) else {
            continue;
        };
        let Some(inferred) = choice_type_name(suffix) else {
            continue;
        };
        let ty = typer.and_then(|t| t(key)).unwrap_or(inferred);
        push_values(obj, key, Some(ty), out);
    }
}

impl<'a> Eval<'a, '_> {
    /// Appends the children called `name` of every item to `out`.
    pub(crate) fn navigate(
        &self,
        items: &[Item<'a>],
        name: &str,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let mut out = Vec::new();
        let (mut known, mut unknown_on) = (false, None);
        for item in items {
            match self.child(item, name, &mut out) {
                Some(parent) => unknown_on = unknown_on.or(Some(parent)),
                None => known = true,
            }
        }
        // Strict: a name that no item's type defines is a semantic error. A name that only some
        // types of a mixed collection define (e.g. after `descendants()`) is not.
        match unknown_on {
            Some(parent) if self.ctx.strict && !known => Err(Error::UnknownElement {
                pos,
                name: name.to_owned(),
                parent: parent.to_owned(),
            }),
            _ => Ok(out),
        }
    }

    /// Appends the `name` children of `item`; returns the item's type if the model says that
    /// type has no such element.
    fn child(&self, item: &Item<'a>, name: &str, out: &mut Collection<'a>) -> Option<&'a str> {
        match item {
            Item::Element(e) => match (e.value, e.ext) {
                (Some(Json::Object(obj)), _) => self.object_child(obj, e.ty, name, out),
                (_, Some(Json::Object(ext))) if name == "id" || name == "extension" => {
                    let ty = if name == "id" { "string" } else { "Extension" };
                    push_values(ext, name, Some(ty), out);
                    None
                }
                _ => None,
            },
            Item::TypeInfo {
                namespace,
                name: tn,
            } => {
                match name {
                    "namespace" => out.push(Item::string(*namespace)),
                    "name" => out.push(Item::String(tn.clone())),
                    _ => {}
                }
                None
            }
            _ => None,
        }
    }

    fn object_child(
        &self,
        obj: &'a Map<String, Json>,
        parent: Option<&'a str>,
        name: &str,
        out: &mut Collection<'a>,
    ) -> Option<&'a str> {
        if let (Some(model), Some(pt)) = (self.ctx.model, parent) {
            match model.element_type(pt, name) {
                Some(ElementType::Single(t)) => {
                    push_values(obj, name, Some(t), out);
                    return None;
                }
                Some(ElementType::Choice) => {
                    let typer = |key: &str| model.choice_type(pt, key);
                    push_choice(obj, name, Some(&typer), out);
                    return None;
                }
                None if model.is_type(pt) => return Some(pt),
                None => {}
            }
        }
        if obj.contains_key(name) || with_underscore(name, |k| obj.contains_key(k)) {
            push_values(obj, name, None, out);
        } else {
            push_choice(obj, name, None, out);
        }
        None
    }

    /// The type of child `key` of an object of type `parent` (for `children()`), resolving
    /// choice properties such as `valueQuantity`.
    fn child_type(&self, parent: Option<&'a str>, key: &'a str) -> Option<&'a str> {
        let (model, pt) = (self.ctx.model?, parent?);
        match model.element_type(pt, key) {
            Some(ElementType::Single(t)) => Some(t),
            _ => model.choice_type(pt, key),
        }
    }

    /// All children of an element (FHIRPath `children()`), in document order.
    pub(crate) fn children_of(&self, item: &Item<'a>, out: &mut Collection<'a>) {
        let Item::Element(e) = item else { return };
        let Some(Json::Object(obj)) = e.value else {
            if let Some(Json::Object(ext)) = e.ext {
                push_values(ext, "extension", Some("Extension"), out);
            }
            return;
        };
        for key in obj.keys() {
            if key == "resourceType" {
                continue;
            }
            if let Some(base) = key.strip_prefix('_')
                && obj.contains_key(base)
            {
                continue;
            }
            let plain = key.strip_prefix('_').unwrap_or(key);
            let ty = self.child_type(e.ty, plain);
            push_values(obj, plain, ty, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn underscore_keys() {
        assert_eq!(with_underscore("given", str::to_owned), "_given");
        let long = "x".repeat(200);
        assert_eq!(with_underscore(&long, |k| k.len()), 201);
    }
}
