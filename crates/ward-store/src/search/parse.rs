//! Request parameters → [`SearchQuery`]: parameter names with modifiers and chains, `_has`,
//! result parameters (`_sort`, `_count`, `_total`, `_include`, `_revinclude`, `_type`).
//! Unknown parameters become warnings (errors under `handling=strict`); malformed values are
//! always errors. Messages name parameters, never values.

use ward_spec::{SearchParamType as K, r4};

use super::model::{
    Filter, Include, Modifier, ParamFilter, SearchQuery, SortKey, TotalMode, Value,
};
use super::registry::{ParamRef, Registry, lookup};
use super::value::{BadValue, ValueCtx, composite, parse_value, split_escaped_keep};
use crate::index::{TABLE_PARAMS, component_code, param_key};

/// Settings the parser needs.
#[derive(Debug, Clone)]
pub struct ParseOptions<'a> {
    /// The server's FHIR base (absolute references to it are local).
    pub base_url: &'a str,
    /// Now, in microseconds (for `ap`).
    pub now_us: i64,
    pub default_count: usize,
    pub max_count: usize,
    /// `Prefer: handling=strict`: unknown parameters are errors.
    pub strict: bool,
    /// Custom search parameters in force, if any.
    pub registry: Option<&'a Registry>,
}

/// A parsed search and what the client should be told about it.
#[derive(Debug, Clone)]
pub struct ParsedSearch {
    pub query: SearchQuery,
    /// Warnings for the OperationOutcome entry (no values in them).
    pub warnings: Vec<String>,
    /// `_summary=count` was asked for.
    pub summary_count: bool,
}

/// A search request the server refuses (400). The message names no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SearchError {
    pub code: &'static str,
    pub message: String,
}

impl From<BadValue> for SearchError {
    fn from(b: BadValue) -> Self {
        Self {
            code: b.0,
            message: b.1.to_owned(),
        }
    }
}

fn err(code: &'static str, message: impl Into<String>) -> SearchError {
    SearchError {
        code,
        message: message.into(),
    }
}

/// Parameters handled outside the query (by the service layer) and ignored here.
const RESULT_PARAMS: [&str; 5] = ["_summary", "_elements", "_format", "_pretty", "_page"];
/// Parameters R4 defines that Ward does not support (a warning, or 400 when strict).
const UNSUPPORTED: [&str; 7] = [
    "_contained",
    "_containedType",
    "_text",
    "_content",
    "_query",
    "_list",
    "_filter",
];

/// A parameter name safe to echo (it is a name, not a value; still limited in form).
fn shown(name: &str) -> String {
    if name.len() <= 80
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-:.$".contains(&b))
    {
        name.to_owned()
    } else {
        "(unprintable)".to_owned()
    }
}

struct Parser<'a> {
    opts: &'a ParseOptions<'a>,
    warnings: Vec<String>,
}

/// Parses a search over `types` (`None`: a system search, types from `_type`).
pub fn parse(
    types: Option<&[&str]>,
    params: &[(String, String)],
    opts: &ParseOptions<'_>,
) -> Result<ParsedSearch, SearchError> {
    let mut p = Parser {
        opts,
        warnings: Vec::new(),
    };
    let types = p.types(types, params)?;
    let tref: Vec<&str> = types.iter().map(String::as_str).collect();
    let mut q = SearchQuery {
        types: types.clone(),
        count: opts.default_count.min(opts.max_count),
        now_us: opts.now_us,
        ..SearchQuery::default()
    };
    let mut summary_count = false;
    for (key, value) in params {
        let (name, modifier) = key.split_once(':').unwrap_or((key.as_str(), ""));
        match name {
            "_type" => {}
            "_summary" if value == "count" => summary_count = true,
            n if RESULT_PARAMS.contains(&n) => {}
            n if UNSUPPORTED.contains(&n) => p.unknown(key, "is not supported")?,
            "_count" => {
                let n: usize = value.parse().map_err(|_| {
                    err("WARD-SEARCH-COUNT", "_count must be a non-negative integer")
                })?;
                q.count = n.min(opts.max_count);
            }
            "_total" => q.total = total(value)?,
            "_sort" => q.sort = p.sort(&tref, value)?,
            "_include" => {
                let inc = p.include(&tref, modifier, value, false)?;
                q.includes.extend(inc);
            }
            "_revinclude" => {
                let inc = p.include(&tref, modifier, value, true)?;
                q.revincludes.extend(inc);
            }
            _ => {
                if let Some(f) = p.filter(&tref, key, value)? {
                    q.filters.push(f);
                }
            }
        }
    }
    if summary_count {
        q.count = 0;
        q.total = TotalMode::Accurate;
    }
    Ok(ParsedSearch {
        query: q,
        warnings: p.warnings,
        summary_count,
    })
}

fn total(v: &str) -> Result<TotalMode, SearchError> {
    Ok(match v {
        "none" => TotalMode::None,
        "estimate" => TotalMode::Estimate,
        "accurate" => TotalMode::Accurate,
        _ => {
            return Err(err(
                "WARD-SEARCH-TOTAL",
                "_total must be none, estimate or accurate",
            ));
        }
    })
}

/// The parameter `code` on every type of `types`, when all have it with one kind.
fn resolve(reg: Option<&Registry>, types: &[&str], code: &str) -> Option<(ParamRef, Vec<i64>)> {
    let mut first: Option<ParamRef> = None;
    let mut keys = Vec::with_capacity(types.len());
    for t in types {
        let sp = lookup(reg, t, code)?;
        if first.as_ref().is_some_and(|f| f.kind != sp.kind) {
            return None;
        }
        if first.is_none() {
            first = Some(sp);
        }
        keys.push(param_key(t, code));
    }
    first.map(|f| (f, keys))
}

fn all_types() -> Vec<&'static str> {
    r4().resource_types().iter().map(String::as_str).collect()
}

impl Parser<'_> {
    fn unknown(&mut self, name: &str, what: &str) -> Result<(), SearchError> {
        let msg = format!("parameter {} {what}; it was ignored", shown(name));
        if self.opts.strict {
            return Err(err("WARD-SEARCH-UNKNOWN", msg));
        }
        self.warnings.push(msg);
        Ok(())
    }

    fn types(
        &mut self,
        types: Option<&[&str]>,
        params: &[(String, String)],
    ) -> Result<Vec<String>, SearchError> {
        if let Some(t) = types {
            return Ok(t.iter().map(|s| (*s).to_owned()).collect());
        }
        let mut out = Vec::new();
        for (_, v) in params.iter().filter(|(k, _)| k == "_type") {
            for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if !r4().is_resource_type(t) || t == "Resource" || t == "DomainResource" {
                    return Err(err(
                        "WARD-SEARCH-TYPE",
                        "_type names an unknown resource type",
                    ));
                }
                if !out.iter().any(|o| o == t) {
                    out.push(t.to_owned());
                }
            }
        }
        if out.is_empty() {
            out = all_types().into_iter().map(str::to_owned).collect();
        }
        Ok(out)
    }

    /// One parameter occurrence (`key=value`) → a filter; `None` if unknown (warned).
    fn filter(
        &mut self,
        types: &[&str],
        key: &str,
        value: &str,
    ) -> Result<Option<Filter>, SearchError> {
        if let Some(rest) = key.strip_prefix("_has:") {
            return self.has(types, key, rest, value);
        }
        if let Some((head, rest)) = key.split_once('.') {
            return self.chain(types, key, head, rest, value);
        }
        let (code, modifier) = key.split_once(':').unwrap_or((key, ""));
        let Some((sp, pkeys)) = resolve(self.opts.registry, types, code) else {
            self.unknown(key, "is not a search parameter of the searched type(s)")?;
            return Ok(None);
        };
        if sp.kind == K::Special || sp.expression.is_none() && !TABLE_PARAMS.contains(&code) {
            self.unknown(key, "is not supported")?;
            return Ok(None);
        }
        let m = modifier_of(sp.kind, modifier, value)?;
        let cx = ValueCtx {
            base_url: self.opts.base_url,
        };
        let mut components = Vec::new();
        if sp.kind == K::Composite {
            for (i, c) in sp.component.iter().enumerate() {
                let def = r4()
                    .search_param_by_url(&c.definition)
                    .ok_or_else(|| err("WARD-SEARCH-PARAM", "a composite component is unknown"))?;
                let cc = component_code(code, i);
                components.push((def.kind, types.iter().map(|t| param_key(t, &cc)).collect()));
            }
        }
        let values = match m {
            Modifier::Missing(_) => Vec::new(),
            _ => split_escaped_keep(value, ',')
                .iter()
                .map(|v| {
                    if sp.kind == K::Composite {
                        let kinds: Vec<K> = components.iter().map(|(k, _)| *k).collect();
                        composite(&kinds, v, &cx)
                    } else {
                        parse_value(sp.kind, &m, v, &cx)
                    }
                })
                .collect::<Result<Vec<Value>, _>>()?,
        };
        let (kind, pkeys) = pseudo(sp.kind, &m, code, types, pkeys);
        Ok(Some(Filter::Param(ParamFilter {
            code: code.to_owned(),
            kind,
            pkeys,
            modifier: m,
            values,
            components,
        })))
    }

    fn chain(
        &mut self,
        types: &[&str],
        key: &str,
        head: &str,
        rest: &str,
        value: &str,
    ) -> Result<Option<Filter>, SearchError> {
        let (code, modifier) = head.split_once(':').unwrap_or((head, ""));
        let Some((sp, pkeys)) =
            resolve(self.opts.registry, types, code).filter(|(sp, _)| sp.kind == K::Reference)
        else {
            self.unknown(key, "does not start with a reference parameter")?;
            return Ok(None);
        };
        let next = rest.split([':', '.']).next().unwrap_or_default();
        let mut targets: Vec<String> = if modifier.is_empty() {
            if sp.target.is_empty() {
                all_types().into_iter().map(str::to_owned).collect()
            } else {
                sp.target.clone()
            }
        } else {
            if !sp.target.is_empty() && !sp.target.iter().any(|t| t == modifier) {
                return Err(err(
                    "WARD-SEARCH-CHAIN",
                    "the chain's type modifier is not a target",
                ));
            }
            vec![modifier.to_owned()]
        };
        if !next.starts_with("_has") {
            targets.retain(|t| lookup(self.opts.registry, t, next).is_some());
        }
        if targets.is_empty() {
            self.unknown(key, "chains to a parameter no target type has")?;
            return Ok(None);
        }
        let tref: Vec<&str> = targets.iter().map(String::as_str).collect();
        let Some(inner) = self.filter(&tref, rest, value)? else {
            return Ok(None);
        };
        Ok(Some(Filter::Chain {
            pkeys,
            targets,
            inner: Box::new(inner),
        }))
    }

    /// `_has:Type:ref:rest=value`.
    fn has(
        &mut self,
        types: &[&str],
        key: &str,
        rest: &str,
        value: &str,
    ) -> Result<Option<Filter>, SearchError> {
        let mut parts = rest.splitn(3, ':');
        let (Some(rtype), Some(refp), Some(inner_key)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(err(
                "WARD-SEARCH-HAS",
                "_has needs _has:Type:reference:parameter",
            ));
        };
        if !r4().is_resource_type(rtype) {
            return Err(err(
                "WARD-SEARCH-HAS",
                "_has names an unknown resource type",
            ));
        }
        let Some(sp) = r4()
            .search_param(rtype, refp)
            .filter(|s| s.kind == K::Reference)
        else {
            self.unknown(key, "names an unknown reference parameter")?;
            return Ok(None);
        };
        if !sp.target.is_empty() && !types.iter().any(|t| sp.target.iter().any(|x| x == t)) {
            self.unknown(
                key,
                "uses a reference that cannot point at the searched type",
            )?;
            return Ok(None);
        }
        let Some(inner) = self.filter(&[rtype], inner_key, value)? else {
            return Ok(None);
        };
        Ok(Some(Filter::Has {
            rtype: rtype.to_owned(),
            pkeys: vec![param_key(rtype, refp)],
            inner: Box::new(inner),
        }))
    }

    fn sort(&mut self, types: &[&str], value: &str) -> Result<Vec<SortKey>, SearchError> {
        let mut keys = Vec::new();
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (descending, code) = match item.strip_prefix('-') {
                Some(c) => (true, c),
                None => (false, item),
            };
            match resolve(self.opts.registry, types, code) {
                Some((sp, pkeys))
                    if !matches!(sp.kind, K::Composite | K::Special)
                        && (sp.expression.is_some() || TABLE_PARAMS.contains(&code)) =>
                {
                    keys.push(SortKey {
                        code: code.to_owned(),
                        kind: sp.kind,
                        pkeys,
                        descending,
                    });
                }
                _ => self.unknown(&format!("_sort={code}"), "cannot be sorted on")?,
            }
        }
        Ok(keys)
    }

    fn include(
        &mut self,
        types: &[&str],
        modifier: &str,
        value: &str,
        rev: bool,
    ) -> Result<Vec<Include>, SearchError> {
        let iterate = match modifier {
            "" => false,
            "iterate" | "recurse" => true,
            _ => return Err(err("WARD-SEARCH-INCLUDE", "_include takes only :iterate")),
        };
        let name = if rev { "_revinclude" } else { "_include" };
        let mut out = Vec::new();
        for v in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let mut parts = v.split(':');
            let (source, param, target) = (parts.next(), parts.next(), parts.next());
            let wildcard = v == "*" || param == Some("*");
            let source = if v == "*" {
                "*"
            } else {
                source.unwrap_or_default()
            };
            if source != "*" && !r4().is_resource_type(source) {
                self.unknown(name, "names an unknown resource type")?;
                continue;
            }
            if target.is_some_and(|t| !r4().is_resource_type(t)) {
                self.unknown(name, "names an unknown target type")?;
                continue;
            }
            let pkeys = if wildcard {
                wildcard_keys(source, types, rev)
            } else {
                let code = param.unwrap_or_default();
                match lookup(self.opts.registry, source, code) {
                    Some(sp) if sp.kind == K::Reference => vec![param_key(source, code)],
                    _ => {
                        self.unknown(name, "names an unknown reference parameter")?;
                        continue;
                    }
                }
            };
            out.push(Include {
                source: source.to_owned(),
                pkeys,
                target: target.map(str::to_owned),
                iterate,
            });
        }
        Ok(out)
    }
}

/// Index keys of every reference parameter an `*` include may follow.
fn wildcard_keys(source: &str, types: &[&str], rev: bool) -> Vec<i64> {
    let sources: Vec<&str> = if source == "*" {
        all_types()
    } else {
        vec![source]
    };
    let mut keys = Vec::new();
    for s in sources {
        for sp in r4().search_params(s).filter(|p| p.kind == K::Reference) {
            let points_here = !rev
                || sp.target.is_empty()
                || sp.target.iter().any(|t| types.contains(&t.as_str()));
            if points_here && sp.expression.is_some() {
                keys.push(param_key(s, &sp.code));
            }
        }
    }
    keys
}

/// Token `:text`, identifier `:of-type` and reference `:identifier` read pseudo parameters
/// (string rows and token rows) that the indexer writes under suffixed keys.
fn pseudo(kind: K, m: &Modifier, code: &str, types: &[&str], pkeys: Vec<i64>) -> (K, Vec<i64>) {
    let suffixed = |suffix: &str| -> Vec<i64> {
        types
            .iter()
            .map(|t| param_key(t, &format!("{code}{suffix}")))
            .collect()
    };
    match (kind, m) {
        (K::Token, Modifier::Text) => (K::String, suffixed(crate::index::TEXT_SUFFIX)),
        (K::Token, Modifier::OfType) => (K::Token, suffixed(crate::index::OF_TYPE_SUFFIX)),
        (K::Reference, Modifier::Identifier) => {
            (K::Token, suffixed(crate::index::IDENTIFIER_SUFFIX))
        }
        _ => (kind, pkeys),
    }
}

fn modifier_of(kind: K, m: &str, value: &str) -> Result<Modifier, SearchError> {
    let bad = || {
        err(
            "WARD-SEARCH-MODIFIER",
            "the modifier is unknown or not allowed for this parameter type",
        )
    };
    Ok(match (m, kind) {
        ("", _) => Modifier::None,
        ("missing", _) => match value {
            "true" => Modifier::Missing(true),
            "false" => Modifier::Missing(false),
            _ => return Err(err("WARD-SEARCH-MISSING", ":missing takes true or false")),
        },
        ("exact", K::String) => Modifier::Exact,
        ("contains", K::String | K::Uri) => Modifier::Contains,
        ("text", K::Token) => Modifier::Text,
        ("not", K::Token) => Modifier::Not,
        ("above", K::Uri) => Modifier::Above,
        ("below", K::Uri) => Modifier::Below,
        ("in", K::Token) => Modifier::In,
        ("not-in", K::Token) => Modifier::NotIn,
        ("of-type", K::Token) => Modifier::OfType,
        ("identifier", K::Reference) => Modifier::Identifier,
        (t, K::Reference) if r4().is_resource_type(t) => Modifier::Type(t.to_owned()),
        _ => return Err(bad()),
    })
}

#[cfg(test)]
mod tests;
