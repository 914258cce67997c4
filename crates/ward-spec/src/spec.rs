//! The loaded specification: artifacts parsed once into hash-indexed tables.

use std::collections::HashMap;

use crate::compartment::Compartment;
use crate::model::{ElementDef, Max, TypeDef, TypeKind, TypeRef};
use crate::raw;
use crate::search::SearchIndex;
use crate::terminology::ValueSetTable;
use crate::tree::{NodeData, Slot};

/// FHIR R4 definitions with lookup tables. Obtain the shared instance with [`crate::r4`].
#[derive(Debug, Default)]
pub struct Spec {
    pub(crate) types: HashMap<String, TypeDef>,
    pub(crate) resource_types: Vec<String>,
    pub(crate) elements: Vec<ElementDef>,
    pub(crate) by_path: HashMap<String, u32>,
    pub(crate) nodes: Vec<NodeData>,
    pub(crate) search: SearchIndex,
    pub(crate) compartments: HashMap<String, Compartment>,
    pub(crate) valuesets: ValueSetTable,
}

static TYPES: &str = include_str!("../data/types.json");
static VALUESETS: &str = include_str!("../data/valuesets.json");
static SEARCH: &str = include_str!("../data/search-parameters.json");
static COMPARTMENTS: &str = include_str!("../data/compartments.json");

impl Spec {
    /// Parses the embedded artifacts.
    pub(crate) fn load() -> Result<Spec, String> {
        let types: raw::TypesFile = parse(TYPES, "types.json")?;
        let valuesets: raw::ValueSetsFile = parse(VALUESETS, "valuesets.json")?;
        let search: raw::SearchFile = parse(SEARCH, "search-parameters.json")?;
        let compartments: raw::CompartmentsFile = parse(COMPARTMENTS, "compartments.json")?;
        let mut spec = Spec::default();
        spec.load_types(types)?;
        spec.valuesets = ValueSetTable::build(valuesets.valuesets);
        spec.search = SearchIndex::build(search.search_parameters, &spec)?;
        spec.compartments = crate::compartment::build(compartments.compartments);
        Ok(spec)
    }

    fn load_types(&mut self, file: raw::TypesFile) -> Result<(), String> {
        for t in file.types {
            let kind = match t.kind.as_str() {
                "primitive-type" => TypeKind::PrimitiveType,
                "complex-type" => TypeKind::ComplexType,
                "resource" => TypeKind::Resource,
                other => return Err(format!("unknown type kind {other}")),
            };
            if kind == TypeKind::Resource && !t.is_abstract {
                self.resource_types.push(t.name.clone());
            }
            let def = TypeDef {
                name: t.name.clone(),
                kind,
                base: t.base,
                is_abstract: t.is_abstract,
                is_constraint: t.constraint,
                prohibited: t.prohibited,
                node: None,
            };
            self.types.insert(t.name, def);
        }
        self.resource_types.sort();
        for e in file.elements {
            let idx = u32::try_from(self.elements.len()).map_err(|_| "too many elements")?;
            self.by_path.insert(e.path.clone(), idx);
            self.elements.push(element_def(e)?);
        }
        self.link_nodes()
    }

    /// Groups elements under their parent paths and resolves `contentReference`s.
    fn link_nodes(&mut self) -> Result<(), String> {
        let mut node_of_path: HashMap<String, u32> = HashMap::new();
        for (idx, el) in self.elements.iter().enumerate() {
            let Some((parent, _)) = el.path.rsplit_once('.') else {
                continue;
            };
            let next = u32::try_from(self.nodes.len()).map_err(|_| "too many nodes")?;
            let node_id = *node_of_path.entry(parent.to_owned()).or_insert(next);
            if node_id == next {
                self.nodes.push(NodeData::default());
            }
            let elem = u32::try_from(idx).map_err(|_| "too many elements")?;
            if let Some(node) = self.nodes.get_mut(node_id as usize) {
                node.add(el, elem);
            }
        }
        for el in &mut self.elements {
            let target = match &el.content_reference {
                Some(cr) => cr.strip_prefix('#').unwrap_or(cr),
                None => el.path.as_str(),
            };
            el.node = node_of_path.get(target).copied();
            if el.content_reference.is_some() && el.node.is_none() {
                return Err(format!("{}: unresolved contentReference", el.path));
            }
        }
        for t in self.types.values_mut() {
            t.node = node_of_path.get(&t.name).copied();
        }
        Ok(())
    }
}

fn parse<T: serde::de::DeserializeOwned>(text: &str, name: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| format!("embedded {name}: {e}"))
}

fn element_def(e: raw::RawElement) -> Result<ElementDef, String> {
    let max = match e.max.as_str() {
        "*" => Max::Unbounded,
        n => Max::Count(n.parse().map_err(|_| format!("{}: bad max", e.path))?),
    };
    let last = e.path.rsplit_once('.').map_or(e.path.as_str(), |(_, l)| l);
    let (name, is_choice) = match last.strip_suffix("[x]") {
        Some(n) => (n.to_owned(), true),
        None => (last.to_owned(), false),
    };
    let types = e
        .types
        .into_iter()
        .map(|t| TypeRef {
            code: t.code,
            target_profiles: t.target_profile,
            profiles: t.profile,
        })
        .collect();
    Ok(ElementDef {
        path: e.path,
        name,
        is_choice,
        min: e.min,
        max,
        types,
        is_summary: e.summary,
        is_modifier: e.modifier,
        is_attribute: e.attr,
        content_reference: e.content_reference,
        required_binding: e.binding,
        regex: e.regex,
        node: None,
    })
}

impl NodeData {
    fn add(&mut self, el: &ElementDef, elem: u32) {
        self.order.push(elem);
        if !el.is_choice {
            self.props.insert(
                el.name.clone().into_boxed_str(),
                Slot {
                    element: elem,
                    choice: None,
                },
            );
            return;
        }
        self.props.insert(
            format!("{}[x]", el.name).into_boxed_str(),
            Slot {
                element: elem,
                choice: None,
            },
        );
        for (i, t) in el.types.iter().enumerate() {
            let key = format!("{}{}", el.name, upper_first(&t.code));
            let choice = u16::try_from(i).ok();
            self.props.insert(
                key.into_boxed_str(),
                Slot {
                    element: elem,
                    choice,
                },
            );
        }
    }
}

/// `dateTime` → `DateTime`: the JSON name suffix of a choice type.
pub(crate) fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
