//! Compartment definitions: which search parameters put a resource into a compartment.

use std::collections::HashMap;

use crate::raw::RawCompartment;
use crate::spec::Spec;

#[derive(Debug, Default)]
pub(crate) struct Compartment {
    /// resource type → linking search parameter codes (`{def}` = the compartment resource itself).
    pub(crate) params: HashMap<String, Vec<String>>,
}

pub(crate) fn build(raw: Vec<RawCompartment>) -> HashMap<String, Compartment> {
    raw.into_iter()
        .map(|c| {
            (
                c.code,
                Compartment {
                    params: c.resources.into_iter().collect(),
                },
            )
        })
        .collect()
}

impl Spec {
    /// Compartment codes available (`Device`, `Encounter`, `Patient`, `Practitioner`,
    /// `RelatedPerson`), sorted.
    pub fn compartments(&self) -> Vec<&str> {
        let mut codes: Vec<&str> = self.compartments.keys().map(String::as_str).collect();
        codes.sort_unstable();
        codes
    }

    /// Search parameter codes that link `resource_type` to `compartment` (e.g. `Patient`,
    /// `Observation` → `subject`, `performer`). Empty when the type is not in the compartment.
    /// The marker `{def}` means the compartment's own resource type.
    pub fn compartment_params(&self, compartment: &str, resource_type: &str) -> &[String] {
        self.compartments
            .get(compartment)
            .and_then(|c| c.params.get(resource_type))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Resource types that can be members of `compartment`, sorted.
    pub fn compartment_resource_types(&self, compartment: &str) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .compartments
            .get(compartment)
            .map(|c| c.params.keys().map(String::as_str).collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }
}
