//! The codes of a stored ValueSet for `:in` / `:not-in`: its `expansion.contains` (nested),
//! else the concepts listed in `compose.include` (with their system).

use serde_json::Value;

/// `(system, code)` pairs of a ValueSet resource.
pub fn codes(vs: &Value) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    if let Some(Value::Array(contains)) = vs.get("expansion").and_then(|e| e.get("contains")) {
        walk(contains, &mut out);
    }
    if out.is_empty()
        && let Some(Value::Array(includes)) = vs.get("compose").and_then(|c| c.get("include"))
    {
        for inc in includes {
            let system = inc.get("system").and_then(Value::as_str).map(str::to_owned);
            if let Some(Value::Array(concepts)) = inc.get("concept") {
                for c in concepts {
                    if let Some(code) = c.get("code").and_then(Value::as_str) {
                        out.push((system.clone(), code.to_owned()));
                    }
                }
            }
        }
    }
    out
}

fn walk(contains: &[Value], out: &mut Vec<(Option<String>, String)>) {
    for c in contains {
        if let Some(code) = c.get("code").and_then(Value::as_str) {
            let system = c.get("system").and_then(Value::as_str).map(str::to_owned);
            out.push((system, code.to_owned()));
        }
        if let Some(Value::Array(nested)) = c.get("contains") {
            walk(nested, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expansion_then_compose() {
        let vs = json!({"expansion": {"contains": [{"system": "s", "code": "a",
            "contains": [{"system": "s", "code": "b"}]}]}});
        assert_eq!(codes(&vs).len(), 2);
        let vs = json!({"compose": {"include": [{"system": "s", "concept": [{"code": "c"}]}]}});
        assert_eq!(codes(&vs), vec![(Some("s".into()), "c".into())]);
    }
}
