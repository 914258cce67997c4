//! SearchParameters and CompartmentDefinitions → search and compartment records.

use serde_json::{Map, Value, json};

use super::{Result, arr_of, bundle_resources, str_of};

/// One record per R4 SearchParameter (version 4.0.1), sorted by url.
pub fn build_params(bundle: &Value) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for sp in bundle_resources(bundle) {
        if str_of(sp, "resourceType") != Some("SearchParameter")
            || str_of(sp, "version") != Some("4.0.1")
        {
            continue; // later-version back-ports are not R4
        }
        let url = str_of(sp, "url").ok_or("SearchParameter without url")?;
        let mut r = Map::new();
        r.insert("url".into(), json!(url));
        for key in ["code", "type"] {
            let v = str_of(sp, key).ok_or_else(|| format!("{url}: no {key}"))?;
            r.insert(key.into(), json!(v));
        }
        r.insert("base".into(), json!(strings(sp, "base")));
        if let Some(expr) = str_of(sp, "expression") {
            r.insert("expression".into(), json!(expr));
        }
        for key in ["target", "modifier", "comparator", "chain"] {
            if sp.get(key).is_some() {
                r.insert(key.into(), json!(strings(sp, key)));
            }
        }
        for key in ["multipleOr", "multipleAnd"] {
            if let Some(b) = sp.get(key).and_then(Value::as_bool) {
                r.insert(key.into(), json!(b));
            }
        }
        let components: Vec<Value> = arr_of(sp, "component")
            .iter()
            .map(|c| json!({"definition": str_of(c, "definition"), "expression": str_of(c, "expression")}))
            .collect();
        if !components.is_empty() {
            r.insert("component".into(), Value::Array(components));
        }
        out.push((url.to_owned(), Value::Object(r)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    if out.windows(2).any(|w| matches!(w, [a, b] if a.0 == b.0)) {
        return Err("duplicate SearchParameter url".into());
    }
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

/// One record per CompartmentDefinition carried in profiles-resources.json, sorted by code.
/// Each maps a resource type to the search parameter codes that link it (`{def}`: the
/// compartment's own resource). Resource types without parameters are left out.
pub fn build_compartments(resources_bundle: &Value) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for cd in bundle_resources(resources_bundle) {
        if str_of(cd, "resourceType") != Some("CompartmentDefinition") {
            continue;
        }
        let code = str_of(cd, "code").ok_or("CompartmentDefinition without code")?;
        let mut resources: Vec<(String, Vec<String>)> = arr_of(cd, "resource")
            .iter()
            .filter_map(|r| Some((str_of(r, "code")?.to_owned(), strings(r, "param"))))
            .filter(|(_, params)| !params.is_empty())
            .collect();
        resources.sort();
        let mut map = Map::new();
        for (ty, params) in resources {
            map.insert(ty, json!(params));
        }
        out.push((
            code.to_owned(),
            json!({"code": code, "url": str_of(cd, "url"), "resources": Value::Object(map)}),
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    arr_of(v, key)
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}
