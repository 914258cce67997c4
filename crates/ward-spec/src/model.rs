//! Type and element definitions as Ward uses them (facts only, no narrative).

/// What a type is, from `StructureDefinition.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeKind {
    /// `boolean`, `string`, `date`, … (JSON scalars).
    PrimitiveType,
    /// Datatypes such as `HumanName`, `Quantity`, `Extension`.
    ComplexType,
    /// Resources, including the abstract `Resource` and `DomainResource`.
    Resource,
}

/// A type definition: resource, complex datatype or primitive.
#[derive(Debug)]
pub struct TypeDef {
    /// Type name, e.g. `Patient`, `HumanName`, `dateTime`, `SimpleQuantity`.
    pub name: String,
    /// Kind of type.
    pub kind: TypeKind,
    /// Base type name (`DomainResource` for most resources); `None` for `Resource` and `Element`.
    pub base: Option<String>,
    /// Abstract types (`Resource`, `DomainResource`, `Element`, `BackboneElement`) have no instances.
    pub is_abstract: bool,
    /// A constraint profile on `base` (`SimpleQuantity`, `MoneyQuantity`) rather than a new type.
    pub is_constraint: bool,
    /// For constraint profiles: element names (relative to the type) that must be absent.
    pub prohibited: Vec<String>,
    pub(crate) node: Option<u32>,
}

/// Upper cardinality bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Max {
    /// At most this many (`0` means prohibited).
    Count(u32),
    /// `*`.
    Unbounded,
}

/// One allowed type of an element.
#[derive(Debug)]
pub struct TypeRef {
    /// Type code, e.g. `string`, `Reference`, `BackboneElement`, `Resource`.
    pub code: String,
    /// For `Reference` / `canonical`: allowed target profiles (core StructureDefinition urls).
    pub target_profiles: Vec<String>,
    /// Profiles the value must conform to (e.g. `SimpleQuantity`).
    pub profiles: Vec<String>,
}

const CORE_SD: &str = "http://hl7.org/fhir/StructureDefinition/";

impl TypeRef {
    /// Target resource type names (`Patient`, `Group`, …) derived from `target_profiles`.
    pub fn target_types(&self) -> impl Iterator<Item = &str> {
        self.target_profiles
            .iter()
            .filter_map(|p| p.strip_prefix(CORE_SD))
    }

    /// Names of the constraint types in `profiles` (e.g. `SimpleQuantity`).
    pub fn profile_types(&self) -> impl Iterator<Item = &str> {
        self.profiles.iter().filter_map(|p| p.strip_prefix(CORE_SD))
    }
}

/// An element definition from a type's snapshot.
#[derive(Debug)]
pub struct ElementDef {
    /// Full path as defined, e.g. `Observation.value[x]`, `Questionnaire.item.item`.
    pub path: String,
    /// Last path segment without `[x]`, e.g. `value`, `item`.
    pub name: String,
    /// Whether this is a choice element (`[x]`), one JSON property per type.
    pub is_choice: bool,
    /// Lower cardinality.
    pub min: u32,
    /// Upper cardinality.
    pub max: Max,
    /// Allowed types; empty for root elements and `contentReference` elements.
    pub types: Vec<TypeRef>,
    /// Part of the `_summary=true` view.
    pub is_summary: bool,
    /// A modifier element.
    pub is_modifier: bool,
    /// `Element.id` / `Resource.id`: a bare JSON string, no `_name` primitive extension sibling.
    pub is_attribute: bool,
    /// `#Path` of the definition this element reuses (e.g. `#Questionnaire.item`).
    pub content_reference: Option<String>,
    /// Canonical of the ValueSet of a `required` binding (may carry `|version`).
    pub required_binding: Option<String>,
    /// For a primitive type's `value` element: the FHIR regex of its lexical form.
    pub regex: Option<String>,
    pub(crate) node: Option<u32>,
}

impl ElementDef {
    /// Whether the JSON form is an array (`max` other than 0 or 1).
    pub fn is_array(&self) -> bool {
        !matches!(self.max, Max::Count(0 | 1))
    }

    /// The required-binding ValueSet url without `|version`.
    pub fn binding_url(&self) -> Option<&str> {
        let c = self.required_binding.as_deref()?;
        Some(c.split_once('|').map_or(c, |(u, _)| u))
    }

    /// The single type of a non-choice element.
    pub fn single_type(&self) -> Option<&TypeRef> {
        match self.types.as_slice() {
            [t] => Some(t),
            _ => None,
        }
    }
}
