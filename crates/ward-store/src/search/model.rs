//! The typed search query: filters (AND of parameters, each an OR of values), chains, reverse
//! chains, sorting, includes and paging. Built by the parser, compiled by the planner.

use serde::{Deserialize, Serialize};
use ward_spec::SearchParamType;

use crate::StoredResource;

/// Looks up the `(system, code)` pairs of a value set by canonical url.
pub type CodeResolver<'a> = dyn Fn(&str) -> Vec<(Option<String>, String)> + 'a;

/// A date/number/quantity comparison prefix (search.html#prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

/// Which system a token value asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSystem {
    /// `code`: any system.
    Any,
    /// `|code`: no system.
    Absent,
    /// `system|code` or `system|`.
    Is(String),
}

/// One search value (one of the OR'ed values of a parameter).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string: normalised for the default and `:contains`, as given for `:exact`.
    Str(String),
    /// A token; `code` is `None` for `system|`.
    Token {
        system: TokenSystem,
        code: Option<String>,
    },
    /// `:in`/`:not-in` before the value set is resolved: its canonical url.
    ValueSet(String),
    /// A resolved value set: `(system, code)` pairs.
    Codes(Vec<(Option<String>, String)>),
    /// A local reference: optional type, logical id.
    Ref { ttype: Option<String>, id: String },
    /// An absolute (non-local) or canonical reference, with an optional canonical version.
    Url { url: String, ver: Option<String> },
    /// A date range `[lo, hi)` in microseconds.
    Date { prefix: Prefix, lo: i64, hi: i64 },
    /// A number with the range its precision implies.
    Number {
        prefix: Prefix,
        value: f64,
        lo: f64,
        hi: f64,
    },
    /// A quantity; `system`/`code` constrain the unit when given.
    Quantity {
        prefix: Prefix,
        value: f64,
        lo: f64,
        hi: f64,
        system: Option<String>,
        code: Option<String>,
    },
    /// A uri.
    Uri(String),
    /// Component values of a composite parameter, in component order.
    Composite(Vec<Value>),
}

/// A search modifier (search.html#modifiers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modifier {
    None,
    /// `:missing=true|false`.
    Missing(bool),
    Exact,
    Contains,
    Text,
    Not,
    Above,
    Below,
    In,
    NotIn,
    OfType,
    Identifier,
    /// `:[type]` on a reference.
    Type(String),
}

/// One parameter occurrence: its values are OR'ed.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamFilter {
    /// The parameter code (`_id` and `_lastUpdated` read the resource table).
    pub code: String,
    pub kind: SearchParamType,
    /// Index keys of the parameter on each searched type.
    pub pkeys: Vec<i64>,
    pub modifier: Modifier,
    pub values: Vec<Value>,
    /// For composites: the component types and their index keys (per searched type).
    pub components: Vec<(SearchParamType, Vec<i64>)>,
}

/// A condition on the searched resources; a query is the AND of its filters.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Param(ParamFilter),
    /// `ref.param=…` / `ref:Type.param=…`: resources whose reference (index keys `pkeys`)
    /// points at a resource of `targets` that matches `inner`.
    Chain {
        pkeys: Vec<i64>,
        targets: Vec<String>,
        inner: Box<Filter>,
    },
    /// `_has:Type:ref:param=…`: resources referenced (through `pkeys` on `rtype`) by a
    /// resource of `rtype` that matches `inner`.
    Has {
        rtype: String,
        pkeys: Vec<i64>,
        inner: Box<Filter>,
    },
    /// Any of the groups matches, where a group matches when all its filters do (used to
    /// narrow a search to what a principal may see under several restricted scopes).
    Any(Vec<Vec<Filter>>),
}

/// A sort key: the parameter, its kind and keys, and direction.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub code: String,
    pub kind: SearchParamType,
    pub pkeys: Vec<i64>,
    pub descending: bool,
}

/// An `_include` or `_revinclude`.
#[derive(Debug, Clone, PartialEq)]
pub struct Include {
    /// The type whose references are followed (`Observation` in `Observation:subject`).
    pub source: String,
    /// Index keys of the reference parameter(s); for `*`, every reference parameter.
    pub pkeys: Vec<i64>,
    /// `Observation:subject:Patient`: only targets of this type.
    pub target: Option<String>,
    pub iterate: bool,
}

/// `_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TotalMode {
    /// Only when it costs nothing (the result fits in one page).
    #[default]
    Default,
    None,
    Estimate,
    Accurate,
}

/// A sort key value carried in a page token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum KeyValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// Where the next page starts: after `(keys…, rid)` in sort order, among resources that
/// existed at `snapshot` (the highest resource row id when the first page was read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageToken {
    pub snapshot: i64,
    pub rid: i64,
    pub keys: Vec<KeyValue>,
    /// Fast date-sort path: 0 = resources with a sort value, 1 = the rest (by rid).
    #[serde(default)]
    pub phase: u8,
}

/// A parsed search.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchQuery {
    /// Resource types searched (one for a type search; several for a system search).
    pub types: Vec<String>,
    pub filters: Vec<Filter>,
    pub sort: Vec<SortKey>,
    /// Page size (0 with `_summary=count`).
    pub count: usize,
    pub total: TotalMode,
    pub includes: Vec<Include>,
    pub revincludes: Vec<Include>,
    /// The position of this page (none for the first).
    pub page: Option<PageToken>,
    /// The current time in microseconds (for `ap` on dates).
    pub now_us: i64,
}

/// One page of results.
#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    /// Matches, in order.
    pub matches: Vec<StoredResource>,
    /// Resources added by `_include`/`_revinclude` (not matches themselves).
    pub included: Vec<StoredResource>,
    /// The number of matches, when asked for (or free).
    pub total: Option<u64>,
    /// The next page, if any.
    pub next: Option<PageToken>,
}

impl SearchQuery {
    /// Whether the query reads the search index of type `t`: `t` is searched, chained into,
    /// reverse-chained from (`_has`), or the source of an `_include`/`_revinclude` (`*`
    /// included). (An included *target* is found by id, without its index.)
    pub fn mentions_type(&self, t: &str) -> bool {
        self.types.iter().any(|x| x == t)
            || self.filters.iter().any(|f| filter_mentions(f, t))
            || self
                .includes
                .iter()
                .chain(&self.revincludes)
                .any(|i| i.source == t || i.source == "*")
    }

    /// Canonical urls of value sets the query needs (`:in`, `:not-in`), to be resolved by the
    /// backend before planning.
    pub fn valueset_urls(&self) -> Vec<String> {
        let mut urls = Vec::new();
        for f in &self.filters {
            collect_valuesets(f, &mut urls);
        }
        urls.sort();
        urls.dedup();
        urls
    }

    /// Replaces every [`Value::ValueSet`] with the codes `resolve` returns (none: matches
    /// nothing).
    pub fn bind_valuesets(&mut self, resolve: &CodeResolver<'_>) {
        for f in &mut self.filters {
            bind(f, resolve);
        }
    }
}

fn filter_mentions(f: &Filter, t: &str) -> bool {
    match f {
        Filter::Param(_) => false,
        Filter::Chain { targets, inner, .. } => {
            targets.iter().any(|x| x == t) || filter_mentions(inner, t)
        }
        Filter::Has { rtype, inner, .. } => rtype == t || filter_mentions(inner, t),
        Filter::Any(groups) => groups.iter().flatten().any(|f| filter_mentions(f, t)),
    }
}

fn collect_valuesets(f: &Filter, out: &mut Vec<String>) {
    match f {
        Filter::Param(p) => out.extend(p.values.iter().filter_map(|v| match v {
            Value::ValueSet(u) => Some(u.clone()),
            _ => None,
        })),
        Filter::Chain { inner, .. } | Filter::Has { inner, .. } => collect_valuesets(inner, out),
        Filter::Any(groups) => groups
            .iter()
            .flatten()
            .for_each(|f| collect_valuesets(f, out)),
    }
}

fn bind(f: &mut Filter, resolve: &CodeResolver<'_>) {
    match f {
        Filter::Param(p) => {
            for v in &mut p.values {
                if let Value::ValueSet(u) = v {
                    *v = Value::Codes(resolve(u));
                }
            }
        }
        Filter::Chain { inner, .. } | Filter::Has { inner, .. } => bind(inner, resolve),
        Filter::Any(groups) => groups.iter_mut().flatten().for_each(|f| bind(f, resolve)),
    }
}
