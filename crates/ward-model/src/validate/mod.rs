//! Structural validation of R4 resources against the embedded definitions (ward-spec).
//!
//! One walk over the JSON collects every violation. Locations are a borrowed chain on the stack
//! and are rendered to text only when an issue is reported, so a valid resource costs hash
//! lookups and no string building.

mod loc;
mod object;
mod rules;

use serde_json::{Map, Value};
use ward_spec::Spec;

use crate::issue::{Issue, IssueCode};
use crate::parse::MAX_DEPTH;
use loc::Loc;

/// Validates a parsed resource. `expected_type` is the type the request addresses (e.g. from
/// `PUT /Patient/1`); a different `resourceType` is an issue. Returns every issue found; an empty
/// vector means valid.
pub fn validate(resource: &Value, expected_type: Option<&str>) -> Vec<Issue> {
    let spec = ward_spec::r4();
    let root_name = match resource.get("resourceType").and_then(Value::as_str) {
        Some(rt) if spec.is_resource_type(rt) => rt,
        _ => "Resource",
    };
    let mut v = Validator {
        spec,
        issues: Vec::new(),
    };
    v.resource(resource, &Loc::root(root_name), expected_type, 0, false);
    v.issues
}

pub(crate) struct Validator<'s> {
    pub(crate) spec: &'s Spec,
    pub(crate) issues: Vec<Issue>,
}

impl<'s> Validator<'s> {
    pub(crate) fn report(&mut self, code: IssueCode, loc: &Loc<'_>, message: impl Into<String>) {
        self.issues.push(Issue {
            code,
            expression: loc.render(),
            message: message.into(),
        });
    }

    /// A resource at `loc`: the root, a contained resource, or a `Resource`-typed element.
    pub(crate) fn resource(
        &mut self,
        v: &Value,
        loc: &Loc<'_>,
        expected: Option<&str>,
        depth: usize,
        contained: bool,
    ) {
        let Some(obj) = v.as_object() else {
            self.report(
                IssueCode::Structure,
                loc,
                "a resource must be a JSON object",
            );
            return;
        };
        let Some(rt) = self.resource_type(obj, loc) else {
            return;
        };
        let Some(node) = self
            .spec
            .type_node(rt)
            .filter(|_| self.spec.is_resource_type(rt))
        else {
            self.report(
                IssueCode::Invalid,
                &loc.field("resourceType"),
                "unknown resource type",
            );
            return;
        };
        if let Some(exp) = expected
            && exp != rt
        {
            let msg = format!("resourceType does not match the expected type {exp}");
            let msg = if self.spec.is_resource_type(exp) {
                msg
            } else {
                "resourceType does not match".into()
            };
            self.report(IssueCode::Invalid, &loc.field("resourceType"), msg);
        }
        self.object(obj, node, loc, depth, object::ObjKind::Resource);
        if contained {
            self.contained_rules(obj, loc);
        }
    }

    /// The `resourceType` string, or an issue.
    fn resource_type<'v>(&mut self, obj: &'v Map<String, Value>, loc: &Loc<'_>) -> Option<&'v str> {
        match obj.get("resourceType") {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                let msg = "resourceType must be a string";
                self.report(IssueCode::Structure, &loc.field("resourceType"), msg);
                None
            }
            None => {
                self.report(
                    IssueCode::Required,
                    &loc.field("resourceType"),
                    "resourceType is missing",
                );
                None
            }
        }
    }

    /// dom-2, dom-4, dom-5: what a contained resource must not carry.
    fn contained_rules(&mut self, obj: &Map<String, Value>, loc: &Loc<'_>) {
        if obj.contains_key("contained") {
            let msg = "a contained resource must not contain resources (dom-2)";
            self.report(IssueCode::Invariant, &loc.field("contained"), msg);
        }
        let Some(meta) = obj.get("meta").and_then(Value::as_object) else {
            return;
        };
        let meta_loc = loc.field("meta");
        for (key, rule) in [
            ("versionId", "dom-4"),
            ("lastUpdated", "dom-4"),
            ("security", "dom-5"),
        ] {
            if meta.contains_key(key) {
                let msg = format!("a contained resource must not have meta.{key} ({rule})");
                self.report(IssueCode::Invariant, &meta_loc.field(key), msg);
            }
        }
    }

    /// Reports and returns `true` when nesting exceeds the limit.
    pub(crate) fn too_deep(&mut self, depth: usize, loc: &Loc<'_>) -> bool {
        if depth > MAX_DEPTH {
            self.report(IssueCode::Structure, loc, "content nests too deeply");
            return true;
        }
        false
    }
}
