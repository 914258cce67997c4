//! The search indexer: at write time, evaluates the FHIRPath expression of every search
//! parameter that applies to a resource's type and turns the results into typed index rows
//! (string, token, reference, date, number, quantity, uri; composites as grouped component
//! rows). One indexer serves every backend; backends only store the rows.

mod extract;
pub(crate) use extract::{decimal, number_range};
pub mod fts;
pub mod text;
pub mod time;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, RwLock};

use serde_json::Value;
use ward_fhirpath::{Context, Expr, ExprCache, Item, SpecModel};
use ward_spec::{SearchParam, SearchParamType, r4};

use crate::search::Registry;

static MODEL: LazyLock<SpecModel> = LazyLock::new(SpecModel::r4);

/// Identifies one search parameter of one resource type in the index tables: a stable 63-bit
/// FNV-1a hash of `Type.code` (pseudo parameters append a suffix, e.g. `code:text`).
pub fn param_key(rtype: &str, code: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in rtype.bytes().chain([b'.']).chain(code.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::try_from(h >> 1).unwrap_or(0)
}

/// Suffix of the pseudo parameter holding `:text` rows of a token parameter (string rows).
pub const TEXT_SUFFIX: &str = ":text";
/// Suffix of the pseudo parameter holding `:of-type` rows of an identifier parameter.
pub const OF_TYPE_SUFFIX: &str = ":of-type";
/// Suffix of the pseudo parameter holding `:identifier` rows of a reference parameter.
pub const IDENTIFIER_SUFFIX: &str = ":identifier";

/// The pseudo parameter code of a composite's `i`th component.
pub fn component_code(code: &str, i: usize) -> String {
    format!("{code}${i}")
}

/// A string value: normalised for matching and exact for `:exact`.
#[derive(Debug, Clone, PartialEq)]
pub struct StringRow {
    pub pkey: i64,
    pub grp: Option<i64>,
    pub norm: String,
    pub exact: String,
}

/// A token: optional system and a code (or value).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRow {
    pub pkey: i64,
    pub grp: Option<i64>,
    pub system: Option<String>,
    pub code: String,
}

/// A reference: a local target (`ttype` + `tid`), or an absolute/canonical url in `tid` with
/// no `ttype` (and the canonical version in `ver`).
#[derive(Debug, Clone, PartialEq)]
pub struct RefRow {
    pub pkey: i64,
    pub grp: Option<i64>,
    pub ttype: Option<String>,
    pub tid: String,
    pub ver: Option<String>,
}

/// A date range `[lo, hi)` in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct DateRow {
    pub pkey: i64,
    pub grp: Option<i64>,
    pub lo: i64,
    pub hi: i64,
}

/// A number: its value and the range its precision implies.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberRow {
    pub pkey: i64,
    pub grp: Option<i64>,
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

/// A quantity: value (with precision range), system, code and unit.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantityRow {
    pub pkey: i64,
    pub grp: Option<i64>,
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
    pub system: Option<String>,
    pub code: Option<String>,
    pub unit: Option<String>,
}

/// A uri (or canonical, as written).
#[derive(Debug, Clone, PartialEq)]
pub struct UriRow {
    pub pkey: i64,
    pub grp: Option<i64>,
    pub uri: String,
}

/// Sort keys of a date parameter: the lowest start and the highest end.
#[derive(Debug, Clone, PartialEq)]
pub struct SortDateRow {
    pub pkey: i64,
    pub lo: i64,
    pub hi: i64,
}

/// Every index row of one resource version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexRows {
    pub strings: Vec<StringRow>,
    pub tokens: Vec<TokenRow>,
    pub refs: Vec<RefRow>,
    pub dates: Vec<DateRow>,
    pub numbers: Vec<NumberRow>,
    pub quantities: Vec<QuantityRow>,
    pub uris: Vec<UriRow>,
    pub sort_dates: Vec<SortDateRow>,
}

/// Drops rows equal to an earlier one (the same value reached by two paths, such as a patient
/// named in two entities): they would only cost writes. Long lists are left alone.
fn dedup_rows<T: PartialEq>(v: &mut Vec<T>) {
    if v.len() < 2 || v.len() > 256 {
        return;
    }
    let mut out: Vec<T> = Vec::with_capacity(v.len());
    for x in v.drain(..) {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    *v = out;
}

impl IndexRows {
    /// Removes duplicate rows of each kind.
    pub fn dedup(&mut self) {
        dedup_rows(&mut self.strings);
        dedup_rows(&mut self.tokens);
        dedup_rows(&mut self.refs);
        dedup_rows(&mut self.dates);
        dedup_rows(&mut self.numbers);
        dedup_rows(&mut self.quantities);
        dedup_rows(&mut self.uris);
    }

    /// Total number of rows.
    pub fn len(&self) -> usize {
        self.strings.len()
            + self.tokens.len()
            + self.refs.len()
            + self.dates.len()
            + self.numbers.len()
            + self.quantities.len()
            + self.uris.len()
            + self.sort_dates.len()
    }

    /// True if there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parameter codes answered from the resource table itself, never indexed.
pub const TABLE_PARAMS: [&str; 2] = ["_id", "_lastUpdated"];

/// Built-in parameters Ward neither indexes nor searches (they are absent from `/metadata`, and
/// a search that uses one is treated as using an unknown parameter). AuditEvent is written on
/// every request, so its index rows are the audit trail's write cost: Ward keeps the parameters
/// the trail is searched by (date, agent, entity, patient, action, outcome, type, subtype,
/// purpose, plus address and altid) and drops the codings repeated per entity or agent, which
/// multiply rows (a search result's record names every patient in it), the names, policy and
/// site, and `source` (always Ward itself).
pub const UNINDEXED: [(&str, &str); 8] = [
    ("AuditEvent", "agent-name"),
    ("AuditEvent", "agent-role"),
    ("AuditEvent", "entity-name"),
    ("AuditEvent", "entity-role"),
    ("AuditEvent", "entity-type"),
    ("AuditEvent", "policy"),
    ("AuditEvent", "site"),
    ("AuditEvent", "source"),
];

/// Whether the built-in parameter `code` of `rtype` is one of [`UNINDEXED`].
pub fn is_unindexed(rtype: &str, code: &str) -> bool {
    UNINDEXED.iter().any(|(t, c)| *t == rtype && *c == code)
}

/// Where the rows of one evaluated value go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keys {
    pub kind: SearchParamType,
    pub pkey: i64,
    pub grp: Option<i64>,
    /// `:text` rows (tokens) — absent inside composites.
    pub text: Option<i64>,
    /// `:of-type` rows (identifiers).
    pub of_type: Option<i64>,
    /// `:identifier` rows (references).
    pub identifier: Option<i64>,
}

#[derive(Debug)]
struct Compiled {
    code: String,
    keys: Keys,
    expr: Arc<Expr>,
    components: Vec<(Keys, Arc<Expr>)>,
    warned: AtomicBool,
}

#[derive(Debug, Default)]
struct TypePlan {
    params: Vec<Compiled>,
}

/// The shared indexer. Expressions are compiled once and cached per resource type.
#[derive(Debug)]
pub struct Indexer {
    base_url: String,
    cache: ExprCache,
    plans: RwLock<HashMap<String, Arc<TypePlan>>>,
    registry: Option<Arc<Registry>>,
}

impl Indexer {
    /// An indexer for a server whose FHIR base is `base_url` (absolute references to it are
    /// indexed as local references).
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            cache: ExprCache::new(),
            plans: RwLock::new(HashMap::new()),
            registry: None,
        }
    }

    /// An indexer that also evaluates the custom parameters of `registry`.
    pub fn with_registry(base_url: &str, registry: Arc<Registry>) -> Self {
        Self {
            registry: Some(registry),
            ..Self::new(base_url)
        }
    }

    /// Forgets the compiled plans of `types` (after their custom parameters changed).
    pub fn invalidate(&self, types: &[String]) {
        if let Ok(mut map) = self.plans.write() {
            for t in types {
                map.remove(t);
            }
        }
    }

    /// The custom parameters in force on `rtype` (none without a registry).
    pub fn custom_params(&self, rtype: &str) -> Vec<Arc<SearchParam>> {
        self.registry
            .as_ref()
            .map(|r| r.for_type(rtype))
            .unwrap_or_default()
    }

    /// The server base this indexer treats as local.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Index rows of `resource` (of type `rtype`). Never fails: a parameter whose expression
    /// cannot be evaluated is skipped (and its code logged once).
    pub fn index(&self, rtype: &str, resource: &Value) -> IndexRows {
        let plan = self.plan(rtype);
        let mut rows = IndexRows::default();
        let ctx = Context::new().with_model(&*MODEL);
        let mut grp = 0i64;
        for p in &plan.params {
            let items = match p.expr.evaluate(resource, &ctx) {
                Ok(items) => items,
                Err(e) => {
                    warn_once(p, rtype, e.code());
                    continue;
                }
            };
            if p.components.is_empty() {
                let x = extract::Extractor::new(&mut rows, &self.base_url);
                x.items(&p.keys, &items);
                continue;
            }
            for root in &items {
                grp += 1;
                self.composite(p, rtype, root, grp, resource, &mut rows);
            }
        }
        extract::sort_keys(&mut rows);
        rows.dedup();
        rows
    }

    fn composite(
        &self,
        p: &Compiled,
        rtype: &str,
        root: &Item<'_>,
        grp: i64,
        resource: &Value,
        rows: &mut IndexRows,
    ) {
        let ctx = Context::new().with_model(&*MODEL).with_resource(resource);
        for (keys, expr) in &p.components {
            match expr.evaluate_items(std::slice::from_ref(root), &ctx) {
                Ok(items) => {
                    let keys = Keys {
                        grp: Some(grp),
                        ..*keys
                    };
                    extract::Extractor::new(rows, &self.base_url).items(&keys, &items);
                }
                Err(e) => warn_once(p, rtype, e.code()),
            }
        }
    }

    fn plan(&self, rtype: &str) -> Arc<TypePlan> {
        if let Ok(map) = self.plans.read()
            && let Some(p) = map.get(rtype)
        {
            return p.clone();
        }
        let plan = Arc::new(self.build(rtype));
        if let Ok(mut map) = self.plans.write() {
            map.entry(rtype.to_owned()).or_insert_with(|| plan.clone());
        }
        plan
    }

    fn build(&self, rtype: &str) -> TypePlan {
        let mut plan = TypePlan::default();
        for sp in r4()
            .search_params(rtype)
            .filter(|sp| !is_unindexed(rtype, &sp.code))
        {
            if let Some(c) = self.compile(rtype, sp) {
                plan.params.push(c);
            }
        }
        for sp in self.registry.iter().flat_map(|r| r.for_type(rtype)) {
            if let Some(c) = self.compile(rtype, &sp) {
                plan.params.push(c);
            }
        }
        plan
    }

    fn compile(&self, rtype: &str, sp: &SearchParam) -> Option<Compiled> {
        if TABLE_PARAMS.contains(&sp.code.as_str()) || sp.kind == SearchParamType::Special {
            return None;
        }
        let source = narrow_expression(rtype, sp.expression.as_deref()?)?;
        let expr = match self.cache.get(&source) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(
                    rtype,
                    param = %sp.code,
                    code = e.code(),
                    "search parameter expression not supported; not indexed"
                );
                return None;
            }
        };
        let keys = keys_for(rtype, &sp.code, sp.kind);
        let mut components = Vec::new();
        if sp.kind == SearchParamType::Composite {
            for (i, c) in sp.component.iter().enumerate() {
                let def = r4().search_param_by_url(&c.definition)?;
                let expr = self.cache.get(&c.expression).ok()?;
                let code = component_code(&sp.code, i);
                let keys = Keys {
                    text: None,
                    of_type: None,
                    identifier: None,
                    ..keys_for(rtype, &code, def.kind)
                };
                components.push((keys, expr));
            }
        }
        Some(Compiled {
            code: sp.code.clone(),
            keys,
            expr,
            components,
            warned: AtomicBool::new(false),
        })
    }
}

fn keys_for(rtype: &str, code: &str, kind: SearchParamType) -> Keys {
    let pseudo = |suffix: &str| Some(param_key(rtype, &format!("{code}{suffix}")));
    Keys {
        kind,
        pkey: param_key(rtype, code),
        grp: None,
        text: (kind == SearchParamType::Token)
            .then(|| pseudo(TEXT_SUFFIX))
            .flatten(),
        of_type: (kind == SearchParamType::Token)
            .then(|| pseudo(OF_TYPE_SUFFIX))
            .flatten(),
        identifier: (kind == SearchParamType::Reference)
            .then(|| pseudo(IDENTIFIER_SUFFIX))
            .flatten(),
    }
}

fn warn_once(p: &Compiled, rtype: &str, code: &str) {
    if !p.warned.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            rtype,
            param = %p.code,
            code,
            "search parameter expression failed to evaluate; skipped"
        );
    }
}

/// Keeps only the parts of a top-level union that can apply to `rtype`: shared definitions
/// such as `AllergyIntolerance.code | Condition.code | Observation.code` list every base type,
/// and evaluating the others is wasted work. `None` when nothing applies.
pub(crate) fn narrow_expression(rtype: &str, source: &str) -> Option<String> {
    let parts = split_union(source);
    if parts.len() <= 1 {
        return Some(source.to_owned());
    }
    let kept: Vec<&str> = parts
        .into_iter()
        .map(str::trim)
        .filter(|p| applies_to(rtype, p))
        .collect();
    if kept.is_empty() {
        return None;
    }
    Some(kept.join(" | "))
}

fn applies_to(rtype: &str, part: &str) -> bool {
    let t = part.trim().trim_start_matches('(').trim_start();
    let head: String = t.chars().take_while(char::is_ascii_alphanumeric).collect();
    let is_type = r4().is_resource_type(&head) || head == "Resource" || head == "DomainResource";
    !is_type || head == rtype || head == "Resource" || head == "DomainResource"
}

/// Splits at `|` outside parentheses and string literals.
fn split_union(source: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    let mut prev = '\0';
    for (i, c) in source.char_indices() {
        match c {
            '\'' if prev != '\\' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            '|' if !quoted && depth == 0 => {
                parts.push(source.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
        prev = c;
    }
    parts.push(source.get(start..).unwrap_or_default());
    parts
}

#[cfg(test)]
mod tests;

/// The ids of the Patients whose compartment a resource of type `rtype` with id `id` and index
/// rows `rows` is in (compartmentdefinition-patient: the linking parameters' references to a
/// Patient; a Patient is in its own compartment). Sorted, without duplicates.
pub fn patient_compartment(rtype: &str, id: &str, rows: &IndexRows) -> Vec<String> {
    if rtype == "Patient" {
        return vec![id.to_owned()];
    }
    let codes = ward_spec::r4().compartment_params("Patient", rtype);
    if codes.is_empty() {
        return Vec::new();
    }
    let keys: Vec<i64> = codes.iter().map(|c| param_key(rtype, c)).collect();
    let mut out: Vec<String> = rows
        .refs
        .iter()
        .filter(|r| r.ttype.as_deref() == Some("Patient") && keys.contains(&r.pkey))
        .map(|r| r.tid.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}
