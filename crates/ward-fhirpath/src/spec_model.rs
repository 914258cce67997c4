//! A [`ModelProvider`] backed by `ward-spec`'s embedded FHIR R4 definitions.

use crate::model::{ElementType, ModelProvider};

/// The FHIR R4 model from `ward-spec`: element types, choices, content references, type
/// hierarchy. Cheap to copy; all lookups are hash-table reads.
#[derive(Debug, Clone, Copy)]
pub struct SpecModel {
    spec: &'static ward_spec::Spec,
}

impl SpecModel {
    /// The model over [`ward_spec::r4()`].
    #[must_use]
    pub fn r4() -> Self {
        Self {
            spec: ward_spec::r4(),
        }
    }

    /// The model over a given specification.
    #[must_use]
    pub fn new(spec: &'static ward_spec::Spec) -> Self {
        Self { spec }
    }
}

impl Default for SpecModel {
    fn default() -> Self {
        Self::r4()
    }
}

/// The type name the engine uses for a resolved property.
fn property_type<'s>(p: &ward_spec::Property<'s>) -> Option<&'s str> {
    if let Some(cr) = &p.element.content_reference {
        return Some(cr.strip_prefix('#').unwrap_or(cr));
    }
    let code = p.type_ref?.code.as_str();
    match code {
        "BackboneElement" | "Element" if p.element.path.contains('.') => {
            Some(p.element.path.as_str())
        }
        _ => Some(code),
    }
}

/// Calls `f` with `name[x]`, avoiding a heap allocation for usual lengths.
fn with_choice_suffix<R>(name: &str, f: impl FnOnce(&str) -> R) -> R {
    let mut buf = [0u8; 64];
    let n = name.len();
    if let Some(dst) = buf.get_mut(..n) {
        dst.copy_from_slice(name.as_bytes());
        if let Some(tail) = buf.get_mut(n..n + 3) {
            tail.copy_from_slice(b"[x]");
            if let Some(Ok(key)) = buf.get(..n + 3).map(std::str::from_utf8) {
                return f(key);
            }
        }
    }
    f(&format!("{name}[x]"))
}

impl ModelProvider for SpecModel {
    fn element_type(&self, parent: &str, element: &str) -> Option<ElementType<'_>> {
        let node = self.spec.children(parent)?;
        if let Some(p) = node.property(element) {
            return match (p.element.is_choice, p.type_ref) {
                (true, None) => Some(ElementType::Choice),
                // `valueQuantity` is a JSON name, not an element name.
                (true, Some(_)) => None,
                (false, _) => property_type(&p).map(ElementType::Single),
            };
        }
        let choice = with_choice_suffix(element, |k| node.property(k));
        choice
            .filter(|p| p.element.is_choice)
            .map(|_| ElementType::Choice)
    }

    fn choice_type(&self, parent: &str, property: &str) -> Option<&str> {
        let p = self.spec.resolve_property(parent, property)?;
        if p.element.is_choice {
            property_type(&p)
        } else {
            None
        }
    }

    fn is_resource_type(&self, name: &str) -> bool {
        self.spec.is_resource_type(name)
    }

    fn base_type(&self, name: &str) -> Option<&str> {
        if let Some(t) = self.spec.type_def(name) {
            return t.base.as_deref();
        }
        if name.contains('.') {
            let el = self.spec.element(name)?;
            return el
                .types
                .first()
                .map(|t| t.code.as_str())
                .or(Some("BackboneElement"));
        }
        None
    }

    fn is_type(&self, name: &str) -> bool {
        self.spec.type_def(name).is_some()
            || (name.contains('.') && self.spec.element(name).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_from_the_r4_definitions() {
        let m = SpecModel::r4();
        assert_eq!(
            m.element_type("Patient", "birthDate"),
            Some(ElementType::Single("date"))
        );
        assert_eq!(
            m.element_type("Observation", "value"),
            Some(ElementType::Choice)
        );
        assert_eq!(m.element_type("Observation", "valueQuantity"), None);
        assert_eq!(
            m.choice_type("Observation", "valueQuantity"),
            Some("Quantity")
        );
        assert_eq!(
            m.choice_type("Observation", "valueDateTime"),
            Some("dateTime")
        );
        assert_eq!(m.choice_type("Observation", "valueFoo"), None);
        assert_eq!(
            m.element_type("Patient", "contact"),
            Some(ElementType::Single("Patient.contact"))
        );
        assert_eq!(
            m.element_type("Patient.contact", "name"),
            Some(ElementType::Single("HumanName"))
        );
        assert_eq!(
            m.element_type("Questionnaire.item", "item"),
            Some(ElementType::Single("Questionnaire.item"))
        );
        assert_eq!(m.element_type("Patient", "nope"), None);
        assert_eq!(m.base_type("Patient"), Some("DomainResource"));
        assert_eq!(m.base_type("Patient.contact"), Some("BackboneElement"));
        assert_eq!(m.base_type("code"), Some("string"));
        assert!(m.is_type("Age") && m.is_type("Patient.contact") && !m.is_type("string1"));
        assert!(m.is_resource_type("Patient") && !m.is_resource_type("Resource"));
        assert_eq!(with_choice_suffix(&"v".repeat(100), |k| k.len()), 103);
    }
}
