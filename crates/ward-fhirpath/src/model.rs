//! The type model the engine consults (element types, choices, resource and base types),
//! plus the built-in FHIR R4 knowledge used when no model is supplied.

/// The declared type of an element, as a [`ModelProvider`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType<'m> {
    /// One type: a FHIR type code (`date`, `HumanName`, `Reference`) or, for backbone elements
    /// and content references, the defining path (`Patient.contact`, `Questionnaire.item`).
    Single(&'m str),
    /// A choice element (`Observation.value[x]`). The engine then finds the JSON properties
    /// `valueQuantity`, `valueString`, ... and types each with [`ModelProvider::choice_type`]
    /// (or, when that answers `None`, by the capitalised suffix).
    Choice,
}

/// FHIR type information the engine needs. Implementations must be cheap to query: the engine
/// calls [`ModelProvider::element_type`] once per navigation step.
pub trait ModelProvider: Send + Sync {
    /// The type of `element` on a value of type `parent` (a type name or backbone path).
    /// `("Patient", "birthDate")` → `Single("date")`; `("Observation", "value")` → `Choice(..)`;
    /// `("Patient", "contact")` → `Single("Patient.contact")`. Inherited elements (`id`,
    /// `extension`, `meta`, ...) must be answered too. `None` if there is no such element,
    /// including for the JSON name of one choice (`valueQuantity` is not an element name).
    fn element_type(&self, parent: &str, element: &str) -> Option<ElementType<'_>>;

    /// The type of a concrete choice property: `("Observation", "valueQuantity")` →
    /// `Some("Quantity")`, `("Observation", "valueDateTime")` → `Some("dateTime")`. The default
    /// answers `None`, and the engine types the value by the property-name suffix.
    fn choice_type(&self, parent: &str, property: &str) -> Option<&str> {
        let _ = (parent, property);
        None
    }

    /// True if `name` is a resource type (`Patient`, `Bundle`).
    fn is_resource_type(&self, name: &str) -> bool;

    /// The immediate base of a type: `Patient` → `DomainResource` → `Resource`; `code` → `string`;
    /// `Age` → `Quantity`; `Patient.contact` → `BackboneElement`. `None` at the root.
    fn base_type(&self, name: &str) -> Option<&str>;

    /// True if the model defines `name` as a type (used to reject unknown type names, and to
    /// decide that a missing element is an error in strict mode).
    fn is_type(&self, name: &str) -> bool;
}

/// FHIR R4 primitive types and the System type each maps to.
const PRIMITIVES: &[(&str, &str)] = &[
    ("base64Binary", "String"),
    ("boolean", "Boolean"),
    ("canonical", "String"),
    ("code", "String"),
    ("date", "Date"),
    ("dateTime", "DateTime"),
    ("decimal", "Decimal"),
    ("id", "String"),
    ("instant", "DateTime"),
    ("integer", "Integer"),
    ("markdown", "String"),
    ("oid", "String"),
    ("positiveInt", "Integer"),
    ("string", "String"),
    ("time", "Time"),
    ("unsignedInt", "Integer"),
    ("uri", "String"),
    ("url", "String"),
    ("uuid", "String"),
    ("xhtml", "String"),
];

/// FHIRPath System types.
pub(crate) const SYSTEM_TYPES: &[&str] = &[
    "Any", "Boolean", "Integer", "Decimal", "String", "Date", "DateTime", "Time", "Quantity",
];

/// The System type a FHIR primitive maps to (`date` → `Date`).
pub(crate) fn primitive_system_type(fhir: &str) -> Option<&'static str> {
    PRIMITIVES.iter().find(|(n, _)| *n == fhir).map(|(_, s)| *s)
}

/// The static name of a FHIR primitive type, if `name` is one.
pub(crate) fn primitive_name(name: &str) -> Option<&'static str> {
    PRIMITIVES.iter().find(|(n, _)| *n == name).map(|(n, _)| *n)
}

/// Turns a choice suffix into a type name: `Quantity` → `Quantity`, `DateTime` → `dateTime`.
pub(crate) fn choice_type_name(suffix: &str) -> Option<&str> {
    let mut chars = suffix.chars();
    let first = chars.next()?;
    if !first.is_ascii_uppercase() {
        return None;
    }
    let rest = chars.as_str();
    let prim = PRIMITIVES.iter().map(|(n, _)| *n).find(|n| {
        let mut c = n.chars();
        c.next().map(|f| f.to_ascii_uppercase()) == Some(first) && c.as_str() == rest
    });
    Some(prim.unwrap_or(suffix))
}

const QUANTITY_PROFILES: &[&str] = &[
    "Age",
    "Count",
    "Distance",
    "Duration",
    "MoneyQuantity",
    "SimpleQuantity",
];

/// Resources whose base is `Resource` rather than `DomainResource`.
const PLAIN_RESOURCES: &[&str] = &["Bundle", "Parameters", "Binary"];

/// Built-in base types (R4), used when no model answers.
pub(crate) fn builtin_base(name: &str) -> Option<&'static str> {
    Some(match name {
        "code" | "id" | "markdown" => "string",
        "url" | "canonical" | "oid" | "uuid" => "uri",
        "positiveInt" | "unsignedInt" => "integer",
        n if QUANTITY_PROFILES.contains(&n) => "Quantity",
        "DomainResource" => "Resource",
        n if PLAIN_RESOURCES.contains(&n) => "Resource",
        "Resource" | "Element" => return None,
        n if n.contains('.') => "BackboneElement",
        n if primitive_name(n).is_some() => "Element",
        _ => return None,
    })
}

/// Walks the base chain of `ty` looking for `target` (at most 32 steps).
pub(crate) fn is_subtype(ty: &str, target: &str, model: Option<&dyn ModelProvider>) -> bool {
    let mut cur = ty;
    for _ in 0..32 {
        if cur == target {
            return true;
        }
        let next = model
            .and_then(|m| m.base_type(cur))
            .or_else(|| builtin_base(cur));
        match next {
            Some(n) => cur = n,
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_hierarchy() {
        assert!(is_subtype("code", "string", None));
        assert!(!is_subtype("string", "code", None));
        assert!(is_subtype("Age", "Quantity", None));
        assert!(is_subtype("DomainResource", "Resource", None));
        assert!(!is_subtype("Age", "Duration", None));
        assert_eq!(choice_type_name("DateTime"), Some("dateTime"));
        assert_eq!(choice_type_name("Quantity"), Some("Quantity"));
        assert_eq!(choice_type_name("quantity"), None);
        assert_eq!(primitive_system_type("instant"), Some("DateTime"));
    }
}
