//! Search parameters: definitions and per-resource-type lookup (inherited ones included).

use std::collections::HashMap;

use crate::raw::RawSearchParam;
use crate::spec::Spec;

/// `SearchParameter.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchParamType {
    /// `number`
    Number,
    /// `date`
    Date,
    /// `string`
    String,
    /// `token`
    Token,
    /// `reference`
    Reference,
    /// `composite`
    Composite,
    /// `quantity`
    Quantity,
    /// `uri`
    Uri,
    /// `special`
    Special,
}

impl SearchParamType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "number" => Self::Number,
            "date" => Self::Date,
            "string" => Self::String,
            "token" => Self::Token,
            "reference" => Self::Reference,
            "composite" => Self::Composite,
            "quantity" => Self::Quantity,
            "uri" => Self::Uri,
            "special" => Self::Special,
            _ => return None,
        })
    }
}

/// One component of a composite search parameter.
#[derive(Debug)]
pub struct Component {
    /// Canonical url of the component's SearchParameter.
    pub definition: String,
    /// FHIRPath relative to the composite's expression result.
    pub expression: String,
}

/// A SearchParameter definition (R4, as published).
#[derive(Debug)]
pub struct SearchParam {
    /// Canonical url.
    pub url: String,
    /// Code used in URLs (`name`, `_lastUpdated`).
    pub code: String,
    /// Parameter type.
    pub kind: SearchParamType,
    /// Resource types it is defined on (`Resource`, `DomainResource` for the common ones).
    pub base: Vec<String>,
    /// FHIRPath expression, unchanged; `None` for `_text`, `_content`, `_query`.
    pub expression: Option<String>,
    /// For reference parameters: allowed target resource types.
    pub target: Vec<String>,
    /// `multipleOr`, when the definition states it.
    pub multiple_or: Option<bool>,
    /// `multipleAnd`, when the definition states it.
    pub multiple_and: Option<bool>,
    /// Allowed modifiers, when the definition lists them.
    pub modifier: Vec<String>,
    /// Allowed comparators, when the definition lists them.
    pub comparator: Vec<String>,
    /// Allowed chain names, when the definition lists them.
    pub chain: Vec<String>,
    /// Components of a composite parameter.
    pub component: Vec<Component>,
}

#[derive(Debug, Default)]
pub(crate) struct SearchIndex {
    params: Vec<SearchParam>,
    by_url: HashMap<String, u32>,
    /// resource type → (code → param), inherited `Resource`/`DomainResource` params included.
    by_type: HashMap<String, HashMap<String, u32>>,
    /// resource type → params in artifact order (own first, then inherited).
    listed: HashMap<String, Vec<u32>>,
}

impl SearchIndex {
    pub(crate) fn build(raw: Vec<RawSearchParam>, spec: &Spec) -> Result<Self, String> {
        let mut index = SearchIndex::default();
        for r in raw {
            let kind =
                SearchParamType::parse(&r.kind).ok_or_else(|| format!("{}: bad type", r.url))?;
            let idx =
                u32::try_from(index.params.len()).map_err(|_| "too many search parameters")?;
            index.by_url.insert(r.url.clone(), idx);
            index.params.push(SearchParam {
                url: r.url,
                code: r.code,
                kind,
                base: r.base,
                expression: r.expression,
                target: r.target,
                multiple_or: r.multiple_or,
                multiple_and: r.multiple_and,
                modifier: r.modifier,
                comparator: r.comparator,
                chain: r.chain,
                component: r
                    .component
                    .into_iter()
                    .map(|c| Component {
                        definition: c.definition,
                        expression: c.expression,
                    })
                    .collect(),
            });
        }
        for ty in spec.resource_types() {
            let chain = type_chain(spec, ty);
            let mut codes = HashMap::new();
            let mut listed = Vec::new();
            for (i, p) in (0u32..).zip(&index.params) {
                if p.base.iter().any(|b| chain.contains(&b.as_str()))
                    && !codes.contains_key(&p.code)
                {
                    codes.insert(p.code.clone(), i);
                    listed.push(i);
                }
            }
            index.by_type.insert(ty.clone(), codes);
            index.listed.insert(ty.clone(), listed);
        }
        Ok(index)
    }
}

/// `ty` and its ancestors (`Patient`, `DomainResource`, `Resource`).
fn type_chain<'a>(spec: &'a Spec, ty: &'a str) -> Vec<&'a str> {
    let mut chain = vec![ty];
    let mut cur = spec.type_def(ty);
    while let Some(base) = cur.and_then(|t| t.base.as_deref()) {
        chain.push(base);
        cur = spec.type_def(base);
    }
    chain
}

impl Spec {
    /// All search parameters applicable to a resource type, including those defined on
    /// `Resource` and `DomainResource` (`_id`, `_lastUpdated`, `_tag`, `_text`, …).
    pub fn search_params(&self, resource_type: &str) -> impl Iterator<Item = &SearchParam> {
        let ids = self
            .search
            .listed
            .get(resource_type)
            .map(Vec::as_slice)
            .unwrap_or_default();
        ids.iter()
            .filter_map(|&i| self.search.params.get(i as usize))
    }

    /// The search parameter with `code` on `resource_type` (inherited ones included).
    pub fn search_param(&self, resource_type: &str, code: &str) -> Option<&SearchParam> {
        let i = *self.search.by_type.get(resource_type)?.get(code)?;
        self.search.params.get(i as usize)
    }

    /// A search parameter by canonical url (e.g. a composite's component definition).
    pub fn search_param_by_url(&self, url: &str) -> Option<&SearchParam> {
        self.search
            .params
            .get(*self.search.by_url.get(url)? as usize)
    }
}
