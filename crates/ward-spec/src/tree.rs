//! Navigation: element by path, children of a path, JSON property name → element (choice-aware).

use std::collections::HashMap;

use crate::model::{ElementDef, TypeDef, TypeKind, TypeRef};
use crate::spec::Spec;

/// Children of one element or type, keyed by JSON property name.
#[derive(Debug, Default)]
pub(crate) struct NodeData {
    pub(crate) props: HashMap<Box<str>, Slot>,
    pub(crate) order: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    pub(crate) element: u32,
    pub(crate) choice: Option<u16>,
}

/// The set of child elements below a type or element: the place to resolve JSON properties.
#[derive(Debug, Clone, Copy)]
pub struct Node<'s> {
    spec: &'s Spec,
    data: &'s NodeData,
}

/// A JSON property resolved to its element definition.
#[derive(Debug, Clone, Copy)]
pub struct Property<'s> {
    /// The element, e.g. `Observation.value[x]` for `valueQuantity`.
    pub element: &'s ElementDef,
    /// The type of this property: the chosen type of a choice, or the single type otherwise.
    /// `None` for elements that reuse another definition (`contentReference`) or have none.
    pub type_ref: Option<&'s TypeRef>,
}

impl<'s> Node<'s> {
    /// Resolves a JSON property name (`valueQuantity`, `given`, `value[x]`) among these children.
    /// Primitive-extension names (`_given`) are not resolved here: strip the `_` first.
    pub fn property(&self, json_name: &str) -> Option<Property<'s>> {
        let slot = self.data.props.get(json_name)?;
        let element = self.spec.elements.get(slot.element as usize)?;
        let type_ref = match slot.choice {
            Some(i) => element.types.get(usize::from(i)),
            None if element.is_choice => None,
            None => element.single_type(),
        };
        Some(Property { element, type_ref })
    }

    /// The child elements in definition order.
    pub fn elements(&self) -> impl Iterator<Item = &'s ElementDef> + 's {
        let spec = self.spec;
        self.data
            .order
            .iter()
            .filter_map(move |&i| spec.elements.get(i as usize))
    }
}

impl Spec {
    /// Type definition by name (`Patient`, `HumanName`, `dateTime`, `SimpleQuantity`).
    pub fn type_def(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }

    /// Whether `name` is a concrete (non-abstract) R4 resource type.
    pub fn is_resource_type(&self, name: &str) -> bool {
        self.types
            .get(name)
            .is_some_and(|t| t.kind == TypeKind::Resource && !t.is_abstract)
    }

    /// All concrete R4 resource type names, sorted.
    pub fn resource_types(&self) -> &[String] {
        &self.resource_types
    }

    /// The children of a type (`Patient`, `HumanName`).
    pub fn type_node(&self, type_name: &str) -> Option<Node<'_>> {
        self.node(self.types.get(type_name)?.node?)
    }

    /// The children below a resolved property: its own (backbone or `contentReference`) children,
    /// else those of its type. `None` for primitives and for `Resource`-typed properties.
    pub fn property_node(&self, prop: &Property<'_>) -> Option<Node<'_>> {
        if let Some(n) = prop.element.node {
            return self.node(n);
        }
        let t = self.types.get(prop.type_ref?.code.as_str())?;
        if t.kind == TypeKind::ComplexType {
            self.node(t.node?)
        } else {
            None
        }
    }

    /// Element definition by path. Exact snapshot paths (`Observation.value[x]`) resolve directly;
    /// other paths are walked through datatypes and `contentReference`s
    /// (`Questionnaire.item.item.item`, `Patient.name.given`, `Observation.valueQuantity`).
    pub fn element(&self, path: &str) -> Option<&ElementDef> {
        if let Some(&i) = self.by_path.get(path) {
            return self.elements.get(i as usize);
        }
        self.resolve_path(path).map(|p| p.element)
    }

    /// The children of a type name or element path.
    pub fn children(&self, path: &str) -> Option<Node<'_>> {
        if !path.contains('.') {
            return self.type_node(path);
        }
        let prop = self.resolve_path(path)?;
        self.property_node(&prop)
    }

    /// Resolves a JSON property name below a type name or element path, e.g.
    /// `("Observation", "valueQuantity")` → `Observation.value[x]` with type `Quantity`.
    pub fn resolve_property(&self, parent_path: &str, json_name: &str) -> Option<Property<'_>> {
        self.children(parent_path)?.property(json_name)
    }

    fn resolve_path(&self, path: &str) -> Option<Property<'_>> {
        let mut segments = path.split('.');
        let mut node = self.type_node(segments.next()?)?;
        let mut prop = None;
        for seg in segments {
            if prop.is_some() {
                node = self.property_node(prop.as_ref()?)?;
            }
            prop = Some(node.property(seg)?);
        }
        prop
    }

    fn node(&self, id: u32) -> Option<Node<'_>> {
        Some(Node {
            spec: self,
            data: self.nodes.get(id as usize)?,
        })
    }
}
