//! Required-binding ValueSets → code lists, expanded at generation time (or "not enumerable").

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use super::{Result, arr_of, bundle_resources, str_of};

type Codes = Vec<(String, String)>;

struct Index<'a> {
    valuesets: HashMap<&'a str, &'a Value>,
    codesystems: HashMap<&'a str, &'a Value>,
}

/// One record per distinct required ValueSet url, sorted by url.
pub fn build(required: &BTreeSet<String>, bundles: &[Value]) -> Result<Vec<Value>> {
    let mut index = Index {
        valuesets: HashMap::new(),
        codesystems: HashMap::new(),
    };
    for r in bundles.iter().flat_map(bundle_resources) {
        let Some(url) = str_of(r, "url") else {
            continue;
        };
        let map = match str_of(r, "resourceType") {
            Some("ValueSet") => &mut index.valuesets,
            Some("CodeSystem") => &mut index.codesystems,
            _ => continue,
        };
        map.entry(url).or_insert(r); // first bundle wins (valuesets.json before v2/v3)
    }
    let urls: BTreeSet<&str> = required.iter().map(|c| strip_version(c)).collect();
    let mut out = Vec::new();
    for url in urls {
        let mut rec = Map::new();
        rec.insert("url".into(), json!(url));
        if let Some(v) = index
            .valuesets
            .get(url)
            .and_then(|vs| str_of(vs, "version"))
        {
            rec.insert("version".into(), json!(v));
        }
        match index.expand(url, 0) {
            Ok(codes) if !codes.is_empty() => {
                rec.insert("codes".into(), group_by_system(&codes));
            }
            Ok(_) => {
                rec.insert("notEnumerable".into(), json!("expansion is empty"));
            }
            Err(reason) => {
                rec.insert("notEnumerable".into(), json!(reason));
            }
        }
        out.push(Value::Object(rec));
    }
    Ok(out)
}

fn strip_version(canonical: &str) -> &str {
    canonical.split_once('|').map_or(canonical, |(u, _)| u)
}

/// `{system: [code, ...]}` in first-seen order.
fn group_by_system(codes: &Codes) -> Value {
    let mut map = Map::new();
    for (system, code) in codes {
        let list = map
            .entry(system.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = list {
            items.push(json!(code));
        }
    }
    Value::Object(map)
}

impl Index<'_> {
    /// Expands a ValueSet, or says why it cannot be enumerated.
    fn expand(&self, url: &str, depth: usize) -> std::result::Result<Codes, String> {
        if depth > 8 {
            return Err("value set imports nest too deeply".into());
        }
        let vs = self
            .valuesets
            .get(url)
            .ok_or("value set not in the package")?;
        let Some(compose) = vs.get("compose") else {
            return expansion_contains(vs);
        };
        let mut codes = Codes::new();
        for inc in arr_of(compose, "include") {
            for c in self.include(inc, depth)? {
                if !codes.contains(&c) {
                    codes.push(c);
                }
            }
        }
        for exc in arr_of(compose, "exclude") {
            let removed = self.include(exc, depth)?;
            codes.retain(|c| !removed.contains(c));
        }
        Ok(codes)
    }

    fn include(&self, inc: &Value, depth: usize) -> std::result::Result<Codes, String> {
        if inc.get("filter").is_some() {
            return Err("uses compose filters".into());
        }
        let system = str_of(inc, "system");
        let imports = arr_of(inc, "valueSet");
        if !imports.is_empty() {
            if system.is_some() {
                return Err("intersects a system with value sets".into());
            }
            let mut codes = Codes::new();
            for vs in imports.iter().filter_map(Value::as_str) {
                codes.extend(self.expand(strip_version(vs), depth + 1)?);
            }
            return Ok(codes);
        }
        let system = system.ok_or("include without system")?;
        let listed = arr_of(inc, "concept");
        if !listed.is_empty() {
            return Ok(listed
                .iter()
                .filter_map(|c| str_of(c, "code"))
                .map(|c| (system.to_owned(), c.to_owned()))
                .collect());
        }
        let cs = self
            .codesystems
            .get(system)
            .ok_or_else(|| format!("external code system {system}"))?;
        if str_of(cs, "content") != Some("complete") {
            return Err(format!(
                "code system {system} is not complete in the package"
            ));
        }
        let mut codes = Codes::new();
        flatten_concepts(arr_of(cs, "concept"), system, &mut codes);
        Ok(codes)
    }
}

fn flatten_concepts(concepts: &[Value], system: &str, out: &mut Codes) {
    for c in concepts {
        if let Some(code) = str_of(c, "code") {
            out.push((system.to_owned(), code.to_owned()));
        }
        flatten_concepts(arr_of(c, "concept"), system, out);
    }
}

fn expansion_contains(vs: &Value) -> std::result::Result<Codes, String> {
    fn walk(items: &[Value], out: &mut Codes) {
        for c in items {
            if let (Some(s), Some(code)) = (str_of(c, "system"), str_of(c, "code")) {
                out.push((s.to_owned(), code.to_owned()));
            }
            walk(arr_of(c, "contains"), out);
        }
    }
    let exp = vs
        .get("expansion")
        .ok_or("value set has neither compose nor expansion")?;
    let mut out = Codes::new();
    walk(arr_of(exp, "contains"), &mut out);
    Ok(out)
}
