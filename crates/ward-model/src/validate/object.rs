//! Walking objects: properties → elements, shapes, cardinality, choices, primitive extensions.

use serde_json::{Map, Value};
use ward_spec::{ElementDef, Max, Node, Property, TypeKind};

use super::Validator;
use super::loc::Loc;
use crate::issue::IssueCode;
use crate::primitive;

type Obj = Map<String, Value>;

/// What kind of JSON object is being walked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjKind {
    /// A resource (has `resourceType`).
    Resource,
    /// A complex or backbone element (ele-1 applies).
    Element,
    /// The `_name` object of a primitive (its id and extensions; the value is beside it).
    PrimitiveExtension,
}

impl<'s> Validator<'s> {
    /// A resource or complex element whose children are `node`.
    pub(crate) fn object(
        &mut self,
        obj: &Obj,
        node: Node<'s>,
        loc: &Loc<'_>,
        depth: usize,
        kind: ObjKind,
    ) {
        if self.too_deep(depth, loc) {
            return;
        }
        let is_resource = kind == ObjKind::Resource;
        if kind == ObjKind::Element && obj.keys().all(|k| k == "id") {
            self.report(
                IssueCode::Structure,
                loc,
                "an element must have a value or children (ele-1)",
            );
            if obj.is_empty() {
                return;
            }
        }
        let mut choices: Vec<(&ElementDef, &str)> = Vec::new();
        for (key, val) in obj {
            if is_resource && key == "resourceType" {
                continue;
            }
            let (name, is_ext) = key
                .strip_prefix('_')
                .map_or((key.as_str(), false), |n| (n, true));
            let here = loc.key(key);
            let Some(prop) = node
                .property(name)
                .filter(|p| !(p.element.is_choice && p.type_ref.is_none()))
            else {
                self.report(IssueCode::Structure, &here, "unknown element");
                continue;
            };
            if prop.element.is_choice && self.second_choice(&mut choices, &prop, &here) {
                continue;
            }
            if is_ext {
                self.primitive_extension(obj, name, val, &prop, &here, depth);
            } else {
                self.element_value(obj, key, val, &prop, &here, depth);
            }
        }
        self.required(obj, node, loc);
    }

    /// Records a choice variant; reports (and returns `true`) when another variant was seen.
    fn second_choice<'p>(
        &mut self,
        seen: &mut Vec<(&'p ElementDef, &'p str)>,
        prop: &Property<'p>,
        here: &Loc<'_>,
    ) -> bool {
        let code = prop.type_ref.map_or("", |t| t.code.as_str());
        match seen.iter().find(|(e, _)| std::ptr::eq(*e, prop.element)) {
            Some((_, c)) if *c != code => {
                let msg = format!(
                    "only one type of choice element {}[x] may be present",
                    prop.element.name
                );
                self.report(IssueCode::Structure, here, msg);
                true
            }
            Some(_) => false,
            None => {
                seen.push((prop.element, code));
                false
            }
        }
    }

    fn element_value(
        &mut self,
        obj: &Obj,
        key: &str,
        val: &Value,
        prop: &Property<'s>,
        loc: &Loc<'_>,
        depth: usize,
    ) {
        let el = prop.element;
        let Value::Array(items) = val else {
            if el.is_array() {
                self.report(IssueCode::Structure, loc, "must be a JSON array");
            } else if val.is_null() {
                self.report(IssueCode::Structure, loc, "null is not allowed here");
            } else {
                self.item(val, prop, loc, depth);
            }
            return;
        };
        if !el.is_array() {
            self.report(
                IssueCode::Structure,
                loc,
                "must be a single value, not an array",
            );
            return;
        }
        if items.is_empty() {
            self.report(IssueCode::Structure, loc, "arrays must not be empty");
            return;
        }
        if let Max::Count(n) = el.max
            && items.len() > n as usize
        {
            self.report(
                IssueCode::Structure,
                loc,
                format!("at most {n} values allowed"),
            );
        }
        for (i, item) in items.iter().enumerate() {
            let here = loc.index(i);
            if item.is_null() {
                if !extension_at(obj, key, i) {
                    let msg = "null is only allowed in a primitive array aligned with an extension";
                    self.report(IssueCode::Structure, &here, msg);
                }
                continue;
            }
            self.item(item, prop, &here, depth);
        }
    }

    /// One value of an element (a single value, or one array item).
    fn item(&mut self, v: &Value, prop: &Property<'s>, loc: &Loc<'_>, depth: usize) {
        let el = prop.element;
        let code = prop.type_ref.map(|t| t.code.as_str());
        let kind = code.and_then(|c| self.spec.type_def(c)).map(|t| t.kind);
        if el.is_attribute || kind == Some(TypeKind::PrimitiveType) {
            let code = code.unwrap_or("string");
            if let Err(msg) = primitive::check(code, v) {
                self.report(IssueCode::Value, loc, msg);
            } else if el.required_binding.is_some() {
                self.check_code(el, None, v.as_str(), loc);
            }
            return;
        }
        if code == Some("Resource") {
            let contained = el.name == "contained" && el.path.matches('.').count() == 1;
            self.resource(v, loc, None, depth + 1, contained);
            return;
        }
        let Some(obj) = v.as_object() else {
            self.report(IssueCode::Structure, loc, "must be a JSON object");
            return;
        };
        if let Some(node) = self.spec.property_node(prop) {
            self.object(obj, node, loc, depth + 1, ObjKind::Element);
            self.type_rules(obj, prop, loc);
        }
    }

    /// `_name`: the id/extensions of a primitive, aligned with the value array when repeating.
    fn primitive_extension(
        &mut self,
        obj: &Obj,
        name: &str,
        val: &Value,
        prop: &Property<'s>,
        loc: &Loc<'_>,
        depth: usize,
    ) {
        let el = prop.element;
        let primitive = prop
            .type_ref
            .and_then(|t| self.spec.type_def(&t.code))
            .is_some_and(|t| t.kind == TypeKind::PrimitiveType);
        let Some(element_node) = self
            .spec
            .type_node("Element")
            .filter(|_| primitive && !el.is_attribute)
        else {
            self.report(
                IssueCode::Structure,
                loc,
                "primitive extension on an element that is not a primitive",
            );
            return;
        };
        let items = match (val, el.is_array()) {
            (Value::Object(o), false) => {
                if !obj.contains_key(name) && !o.contains_key("extension") {
                    self.report(
                        IssueCode::Structure,
                        loc,
                        "a primitive needs a value or extensions (ele-1)",
                    );
                }
                return self.object(o, element_node, loc, depth + 1, ObjKind::PrimitiveExtension);
            }
            (Value::Array(items), true) => items,
            (_, true) => return self.report(IssueCode::Structure, loc, "must be a JSON array"),
            (_, false) => return self.report(IssueCode::Structure, loc, "must be a JSON object"),
        };
        self.primitive_extension_items(obj, name, items, element_node, loc, depth);
    }

    /// The array form of `_name`: as long as `name`, each item an Element object or null.
    fn primitive_extension_items(
        &mut self,
        obj: &Obj,
        name: &str,
        items: &[Value],
        element_node: Node<'s>,
        loc: &Loc<'_>,
        depth: usize,
    ) {
        let base = obj.get(name).and_then(Value::as_array);
        if base.is_some_and(|b| b.len() != items.len()) {
            self.report(
                IssueCode::Structure,
                loc,
                format!("must have as many entries as {name}"),
            );
        }
        for (i, item) in items.iter().enumerate() {
            let here = loc.index(i);
            match item {
                // A null facing a null in the value array is reported there, once.
                Value::Null if base.and_then(|b| b.get(i)).is_none() => {
                    self.report(
                        IssueCode::Structure,
                        &here,
                        format!("null without a value in {name}"),
                    );
                }
                Value::Null => {}
                Value::Object(o) => self.object(
                    o,
                    element_node,
                    &here,
                    depth + 1,
                    ObjKind::PrimitiveExtension,
                ),
                _ => self.report(IssueCode::Structure, &here, "must be a JSON object or null"),
            }
        }
    }

    /// Cardinality minimums of the children of `node`.
    fn required(&mut self, obj: &Obj, node: Node<'s>, loc: &Loc<'_>) {
        for el in node.elements().filter(|e| e.min > 0) {
            let present = obj.keys().any(|k| {
                let n = k.strip_prefix('_').unwrap_or(k);
                if el.is_choice {
                    n.starts_with(el.name.as_str())
                        && node
                            .property(n)
                            .is_some_and(|p| std::ptr::eq(p.element, el))
                } else {
                    n == el.name
                }
            });
            if !present {
                let seg = el.path.rsplit('.').next().unwrap_or(&el.name);
                self.report(
                    IssueCode::Required,
                    &loc.field(seg),
                    format!("required element {seg} is missing"),
                );
            }
        }
    }
}

/// Whether `_key[i]` holds an extension object (so `key[i]` may be null).
fn extension_at(obj: &Obj, key: &str, i: usize) -> bool {
    obj.iter()
        .find(|(k, _)| k.strip_prefix('_') == Some(key))
        .and_then(|(_, v)| v.as_array()?.get(i))
        .is_some_and(Value::is_object)
}
