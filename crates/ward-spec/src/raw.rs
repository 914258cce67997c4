//! Serde mirror of the committed artifacts in `data/` (written by `cargo xtask spec`).

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Deserialize)]
pub(crate) struct TypesFile {
    pub types: Vec<RawType>,
    pub elements: Vec<RawElement>,
}

#[derive(Deserialize)]
pub(crate) struct RawType {
    pub name: String,
    pub kind: String,
    #[serde(rename = "abstract")]
    pub is_abstract: bool,
    pub base: Option<String>,
    #[serde(default)]
    pub constraint: bool,
    #[serde(default)]
    pub prohibited: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawElement {
    pub path: String,
    pub min: u32,
    pub max: String,
    #[serde(default)]
    pub types: Vec<RawTypeRef>,
    #[serde(default)]
    pub attr: bool,
    pub regex: Option<String>,
    #[serde(default)]
    pub summary: bool,
    #[serde(default)]
    pub modifier: bool,
    pub content_reference: Option<String>,
    pub binding: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawTypeRef {
    pub code: String,
    #[serde(default)]
    pub target_profile: Vec<String>,
    #[serde(default)]
    pub profile: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ValueSetsFile {
    pub valuesets: Vec<RawValueSet>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawValueSet {
    pub url: String,
    pub codes: Option<BTreeMap<String, Vec<String>>>,
    pub not_enumerable: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SearchFile {
    pub search_parameters: Vec<RawSearchParam>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawSearchParam {
    pub url: String,
    pub code: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub base: Vec<String>,
    pub expression: Option<String>,
    #[serde(default)]
    pub target: Vec<String>,
    #[serde(default)]
    pub modifier: Vec<String>,
    #[serde(default)]
    pub comparator: Vec<String>,
    #[serde(default)]
    pub chain: Vec<String>,
    pub multiple_or: Option<bool>,
    pub multiple_and: Option<bool>,
    #[serde(default)]
    pub component: Vec<RawComponent>,
}

#[derive(Deserialize)]
pub(crate) struct RawComponent {
    pub definition: String,
    pub expression: String,
}

#[derive(Deserialize)]
pub(crate) struct CompartmentsFile {
    pub compartments: Vec<RawCompartment>,
}

#[derive(Deserialize)]
pub(crate) struct RawCompartment {
    pub code: String,
    pub resources: BTreeMap<String, Vec<String>>,
}
