//! Output shaping for `_summary` and `_elements` (R4 search.html#summary, #elements).

use serde_json::{Map, Value, json};
use ward_spec::{Node, Spec};

/// System of the tag that marks a subsetted resource.
pub const SUBSETTED_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
/// Code of the tag that marks a subsetted resource.
pub const SUBSETTED_CODE: &str = "SUBSETTED";

/// `_summary` modes that shape a resource (`count` is a search-level mode, not handled here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryMode {
    /// `true`: elements marked isSummary (recursively in backbone elements), plus id and meta.
    True,
    /// `text`: `text`, `id`, `meta` and the top-level mandatory elements.
    Text,
    /// `data`: everything except `text`.
    Data,
    /// `false`: the whole resource.
    False,
}

impl SummaryMode {
    /// Parses the `_summary` parameter value (`count` and unknown values give `None`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "true" => Some(Self::True),
            "text" => Some(Self::Text),
            "data" => Some(Self::Data),
            "false" => Some(Self::False),
            _ => None,
        }
    }
}

/// Returns the `_summary` view of a resource. Every mode except `false` adds the SUBSETTED tag.
pub fn summarize(resource: &Value, mode: SummaryMode) -> Value {
    let Some(obj) = resource.as_object() else {
        return resource.clone();
    };
    let spec = ward_spec::r4();
    let node = obj
        .get("resourceType")
        .and_then(Value::as_str)
        .and_then(|rt| spec.type_node(rt));
    let out = match (mode, node) {
        (SummaryMode::False, _) => return resource.clone(),
        (SummaryMode::Data, _) => obj
            .iter()
            .filter(|(k, _)| *k != "text")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        (SummaryMode::Text, Some(node)) => keep(obj, |k| {
            matches!(k, "text" | "id" | "meta")
                || node.property(k).is_some_and(|p| p.element.min > 0)
        }),
        (SummaryMode::True, Some(node)) => summary_object(spec, obj, node, true),
        (_, None) => keep(obj, |k| matches!(k, "text" | "id" | "meta")),
    };
    with_subsetted_tag(out)
}

/// Returns the `_elements` view: the named top-level elements (choice names like `value` match
/// `valueQuantity`), plus `resourceType`, `id`, `meta` and mandatory elements, tagged SUBSETTED.
pub fn select_elements(resource: &Value, elements: &[&str]) -> Value {
    let Some(obj) = resource.as_object() else {
        return resource.clone();
    };
    let node = obj
        .get("resourceType")
        .and_then(Value::as_str)
        .and_then(|rt| ward_spec::r4().type_node(rt));
    let out = keep(obj, |k| {
        if matches!(k, "id" | "meta") || elements.contains(&k) {
            return true;
        }
        node.and_then(|n| n.property(k))
            .is_some_and(|p| p.element.min > 0 || elements.contains(&p.element.name.as_str()))
    });
    with_subsetted_tag(out)
}

/// Keeps `resourceType` and the keys (primitive extensions `_x` follow `x`) that `pred` accepts.
fn keep(obj: &Map<String, Value>, pred: impl Fn(&str) -> bool) -> Map<String, Value> {
    obj.iter()
        .filter(|(k, _)| *k == "resourceType" || pred(k.strip_prefix('_').unwrap_or(k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// isSummary elements of an object; backbone elements are filtered recursively.
fn summary_object(
    spec: &Spec,
    obj: &Map<String, Value>,
    node: Node<'_>,
    root: bool,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in obj {
        let name = k.strip_prefix('_').unwrap_or(k);
        if root && matches!(name, "resourceType" | "id" | "meta") {
            out.insert(k.clone(), v.clone());
            continue;
        }
        let Some(prop) = node.property(name).filter(|p| p.element.is_summary) else {
            continue;
        };
        let backbone = prop.element.content_reference.is_some()
            || prop
                .type_ref
                .is_some_and(|t| matches!(t.code.as_str(), "BackboneElement" | "Element"));
        let child = spec.property_node(&prop).filter(|_| backbone);
        let value = match (child, v) {
            (Some(n), Value::Object(o)) => Value::Object(summary_object(spec, o, n, false)),
            (Some(n), Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .map(|i| {
                        i.as_object().map_or_else(
                            || i.clone(),
                            |o| Value::Object(summary_object(spec, o, n, false)),
                        )
                    })
                    .collect(),
            ),
            _ => v.clone(),
        };
        out.insert(k.clone(), value);
    }
    out
}

fn with_subsetted_tag(mut obj: Map<String, Value>) -> Value {
    let meta = obj.entry("meta").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    if let Some(meta) = meta.as_object_mut() {
        let tags = meta.entry("tag").or_insert_with(|| json!([]));
        if let Some(list) = tags.as_array_mut() {
            let present = list.iter().any(|t| {
                t.get("system").and_then(Value::as_str) == Some(SUBSETTED_SYSTEM)
                    && t.get("code").and_then(Value::as_str) == Some(SUBSETTED_CODE)
            });
            if !present {
                list.push(json!({"system": SUBSETTED_SYSTEM, "code": SUBSETTED_CODE}));
            }
        }
    }
    Value::Object(obj)
}
