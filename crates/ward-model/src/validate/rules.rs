//! Datatype-specific rules: Reference syntax, Extension (ext-1), required bindings
//! on code / Coding / CodeableConcept, constraint profiles (SimpleQuantity).

use serde_json::{Map, Value};
use ward_spec::{ElementDef, Membership, Property};

use super::Validator;
use super::loc::Loc;
use crate::issue::IssueCode;
use crate::reference::parse_reference;

type Obj = Map<String, Value>;

impl<'s> Validator<'s> {
    /// Rules that depend on the element's datatype, run after the structural walk of `obj`.
    pub(crate) fn type_rules(&mut self, obj: &Obj, prop: &Property<'s>, loc: &Loc<'_>) {
        let Some(t) = prop.type_ref else { return };
        match t.code.as_str() {
            "Reference" => self.reference(obj, loc),
            "Extension" => self.extension(obj, loc),
            "Coding" if prop.element.required_binding.is_some() => {
                let (system, code) = (str_at(obj, "system"), str_at(obj, "code"));
                if code.is_some() {
                    self.check_code(prop.element, system, code, &loc.field("code"));
                }
            }
            "CodeableConcept" if prop.element.required_binding.is_some() => {
                self.codeable_concept(obj, prop.element, loc);
            }
            _ => {}
        }
        for profile in t.profile_types() {
            let Some(def) = self.spec.type_def(profile).filter(|d| d.is_constraint) else {
                continue;
            };
            for name in def
                .prohibited
                .iter()
                .filter(|n| obj.contains_key(n.as_str()))
            {
                let msg = format!("{name} is not allowed in a {profile}");
                self.report(IssueCode::Structure, &loc.field(name), msg);
            }
        }
    }

    /// Reference.reference syntax. Target types are not judged: three official R4 examples refer
    /// to types outside their element's targetProfile, and whether the target exists and fits is
    /// a question for the store, which can resolve it.
    fn reference(&mut self, obj: &Obj, loc: &Loc<'_>) {
        let Some(text) = str_at(obj, "reference") else {
            return;
        };
        if let Err(e) = parse_reference(text) {
            self.report(IssueCode::Value, &loc.field("reference"), e.to_string());
        }
    }

    /// ext-1: an extension has either nested extensions or a value, not both and not neither.
    fn extension(&mut self, obj: &Obj, loc: &Loc<'_>) {
        let has_value = obj
            .keys()
            .any(|k| k.strip_prefix('_').unwrap_or(k).starts_with("value"));
        let has_nested = obj
            .get("extension")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if has_value == has_nested {
            let msg =
                "an extension must have either a value or nested extensions, not both (ext-1)";
            self.report(IssueCode::Invariant, loc, msg);
        }
    }

    /// Required binding on a CodeableConcept: when codes are given, one must be in the value set.
    fn codeable_concept(&mut self, obj: &Obj, el: &ElementDef, loc: &Loc<'_>) {
        let Some(vs) = el.required_binding.as_deref() else {
            return;
        };
        let codings = obj
            .get("coding")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut any_code = false;
        for c in codings {
            let Some(code) = c.get("code").and_then(Value::as_str) else {
                continue;
            };
            any_code = true;
            let system = c.get("system").and_then(Value::as_str);
            if self.spec.code_in_valueset(vs, system, code) != Membership::Enumerable(false) {
                return;
            }
        }
        if any_code {
            let msg = format!(
                "no coding is from the required value set {}",
                el.binding_url().unwrap_or(vs)
            );
            self.report(IssueCode::CodeInvalid, &loc.field("coding"), msg);
        }
    }

    /// Required binding on a `code` (no system) or a `Coding` (with its system).
    pub(crate) fn check_code(
        &mut self,
        el: &ElementDef,
        system: Option<&str>,
        code: Option<&str>,
        loc: &Loc<'_>,
    ) {
        let (Some(vs), Some(code)) = (el.required_binding.as_deref(), code) else {
            return;
        };
        if self.spec.code_in_valueset(vs, system, code) == Membership::Enumerable(false) {
            let msg = format!(
                "code is not in the required value set {}",
                el.binding_url().unwrap_or(vs)
            );
            self.report(IssueCode::CodeInvalid, loc, msg);
        }
    }
}

fn str_at<'a>(obj: &'a Obj, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}
