//! Custom search parameters (SearchParameter resources stored in Ward): the live set, shared
//! by the indexer (new writes) and the parser (queries). Built-in R4 definitions always win.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, RwLock};

use serde_json::Value;
use ward_spec::{SearchParam, SearchParamType, r4};

/// A search parameter definition: built in, or registered from a SearchParameter resource.
#[derive(Debug, Clone)]
pub enum ParamRef {
    Spec(&'static SearchParam),
    Custom(Arc<SearchParam>),
}

impl Deref for ParamRef {
    type Target = SearchParam;
    fn deref(&self) -> &SearchParam {
        match self {
            Self::Spec(p) => p,
            Self::Custom(p) => p,
        }
    }
}

/// The custom parameters in force, keyed by (resource type, code).
#[derive(Debug, Default)]
pub struct Registry {
    params: RwLock<HashMap<(String, String), Arc<SearchParam>>>,
}

/// Why a SearchParameter resource did not become live (a stable code; no content).
pub type Skipped = &'static str;

fn kind(s: &str) -> Option<SearchParamType> {
    Some(match s {
        "number" => SearchParamType::Number,
        "date" => SearchParamType::Date,
        "string" => SearchParamType::String,
        "token" => SearchParamType::Token,
        "reference" => SearchParamType::Reference,
        "quantity" => SearchParamType::Quantity,
        "uri" => SearchParamType::Uri,
        _ => return None,
    })
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The parameter `code` on `rtype`: built in first, then custom.
pub fn lookup(registry: Option<&Registry>, rtype: &str, code: &str) -> Option<ParamRef> {
    if let Some(p) = r4()
        .search_param(rtype, code)
        .filter(|p| !crate::index::is_unindexed(rtype, &p.code))
    {
        return Some(ParamRef::Spec(p));
    }
    registry?.get(rtype, code).map(ParamRef::Custom)
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes an `active` SearchParameter live for its base types (replacing an earlier
    /// version with the same url); a retired or draft one is withdrawn. Returns the resource
    /// types whose parameters changed.
    pub fn register(&self, sp: &Value) -> Result<Vec<String>, Skipped> {
        let url = sp.get("url").and_then(Value::as_str).unwrap_or_default();
        let mut types = self.withdraw(url);
        if sp.get("status").and_then(Value::as_str) != Some("active") {
            return Ok(types);
        }
        let code = sp
            .get("code")
            .and_then(Value::as_str)
            .ok_or("WARD-SP-CODE")?;
        let k = sp
            .get("type")
            .and_then(Value::as_str)
            .and_then(kind)
            .ok_or("WARD-SP-TYPE")?;
        let expression = sp
            .get("expression")
            .and_then(Value::as_str)
            .ok_or("WARD-SP-EXPRESSION")?;
        if ward_fhirpath::Expr::parse(expression).is_err() {
            return Err("WARD-SP-EXPRESSION");
        }
        let base: Vec<String> = strings(sp, "base")
            .into_iter()
            .filter(|b| r4().resource_types().contains(b))
            .collect();
        if base.is_empty() || code.starts_with('_') {
            return Err("WARD-SP-BASE");
        }
        let param = Arc::new(SearchParam {
            url: url.to_owned(),
            code: code.to_owned(),
            kind: k,
            base: base.clone(),
            expression: Some(expression.to_owned()),
            target: strings(sp, "target"),
            multiple_or: None,
            multiple_and: None,
            modifier: Vec::new(),
            comparator: Vec::new(),
            chain: Vec::new(),
            component: Vec::new(),
        });
        let mut map = self.params.write().map_err(|_| "WARD-SP-LOCK")?;
        for t in base {
            if r4().search_param(&t, code).is_none() {
                map.insert((t.clone(), code.to_owned()), param.clone());
                types.push(t);
            }
        }
        Ok(types)
    }

    /// Removes the parameter with canonical `url`; the types it was on.
    fn withdraw(&self, url: &str) -> Vec<String> {
        let Ok(mut map) = self.params.write() else {
            return Vec::new();
        };
        let gone: Vec<(String, String)> = map
            .iter()
            .filter(|(_, p)| !url.is_empty() && p.url == url)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &gone {
            map.remove(k);
        }
        gone.into_iter().map(|(t, _)| t).collect()
    }

    /// The custom parameter `code` on `rtype`.
    pub fn get(&self, rtype: &str, code: &str) -> Option<Arc<SearchParam>> {
        let map = self.params.read().ok()?;
        map.get(&(rtype.to_owned(), code.to_owned())).cloned()
    }

    /// Every custom parameter of `rtype`.
    pub fn for_type(&self, rtype: &str) -> Vec<Arc<SearchParam>> {
        self.params
            .read()
            .map(|m| {
                m.iter()
                    .filter(|((t, _), _)| t == rtype)
                    .map(|(_, p)| p.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn registers_and_withdraws() {
        let r = Registry::new();
        let sp = json!({"resourceType": "SearchParameter", "url": "http://x/sp/eye", "status": "active",
            "code": "eye-colour", "type": "token", "base": ["Patient"],
            "expression": "Patient.extension('http://x/eye').value"});
        assert_eq!(r.register(&sp).unwrap(), vec!["Patient"]);
        assert!(lookup(Some(&r), "Patient", "eye-colour").is_some());
        assert!(lookup(None, "Patient", "eye-colour").is_none());
        let mut retired = sp.clone();
        retired["status"] = json!("retired");
        assert_eq!(r.register(&retired).unwrap(), vec!["Patient"]);
        assert!(r.get("Patient", "eye-colour").is_none());
        let mut bad = sp.clone();
        bad["expression"] = json!("Patient.(");
        assert_eq!(r.register(&bad), Err("WARD-SP-EXPRESSION"));
        let mut builtin = sp;
        builtin["code"] = json!("name");
        assert!(r.register(&builtin).unwrap().is_empty());
    }
}
