//! `cargo xtask spec`: turns the pinned FHIR R4 definitions into ward-spec's compact artifacts.

mod fetch;
mod profiles;
mod search;
mod terminology;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Errors of this dev tool are plain messages.
pub type Result<T> = std::result::Result<T, String>;

/// Write the artifacts, or only compare them with the committed ones.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Write,
    Check,
}

/// Runs the generator end to end.
pub fn run(mode: Mode) -> Result<()> {
    let root = workspace_root();
    let src = fetch::ensure_package(&root.join("xtask/.cache"))?;
    let artifacts = generate(&src)?;
    let data = root.join("crates/ward-spec/data");
    match mode {
        Mode::Write => {
            std::fs::create_dir_all(&data).map_err(|e| format!("create data dir: {e}"))?;
            for (name, text) in &artifacts {
                let path = data.join(name);
                std::fs::write(&path, text)
                    .map_err(|e| format!("write {}: {e}", path.display()))?;
                eprintln!("wrote {} ({} bytes)", path.display(), text.len());
            }
            Ok(())
        }
        Mode::Check => check(&data, &artifacts),
    }
}

fn check(data: &Path, artifacts: &[(&str, String)]) -> Result<()> {
    let mut stale = Vec::new();
    for (name, text) in artifacts {
        let committed = std::fs::read_to_string(data.join(name)).unwrap_or_default();
        if committed != *text {
            stale.push(*name);
        }
    }
    if stale.is_empty() {
        eprintln!("spec artifacts are up to date");
        Ok(())
    } else {
        Err(format!(
            "stale artifacts (run `cargo xtask spec`): {}",
            stale.join(", ")
        ))
    }
}

/// Builds every artifact, in memory, from an unpacked `dist/fhir/r4` directory.
fn generate(src: &Path) -> Result<Vec<(&'static str, String)>> {
    let resources = load(&src.join("profiles-resources.json"))?;
    let types = load(&src.join("profiles-types.json"))?;
    let model = profiles::build(&[&types, &resources])?;
    let terminology = [
        load(&src.join("valuesets.json"))?,
        load(&src.join("v3-codesystems.json"))?,
        load(&src.join("v2-tables.json"))?,
    ];
    let valuesets = terminology::build(&model.required_valuesets, &terminology)?;
    let params = search::build_params(&load(&src.join("search-parameters.json"))?)?;
    let compartments = search::build_compartments(&resources)?;
    Ok(vec![
        (
            "types.json",
            lines_document(&[("types", model.types), ("elements", model.elements)]),
        ),
        (
            "valuesets.json",
            lines_document(&[("valuesets", valuesets)]),
        ),
        (
            "search-parameters.json",
            lines_document(&[("searchParameters", params)]),
        ),
        (
            "compartments.json",
            lines_document(&[("compartments", compartments)]),
        ),
    ])
}

fn workspace_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| xtask.to_path_buf())
}

fn load(path: &Path) -> Result<Value> {
    let text = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("parse {}: {e}", path.display()))
}

/// A JSON object whose arrays hold one compact record per line: small diffs, stable bytes.
fn lines_document(sections: &[(&str, Vec<Value>)]) -> String {
    let mut out = String::from("{\"source\":");
    out.push_str(&Value::from(format!("{}@{}", fetch::PACKAGE, fetch::VERSION)).to_string());
    out.push_str(",\"fhirVersion\":\"4.0.1\"");
    for (name, records) in sections {
        out.push_str(",\n");
        out.push_str(&Value::from(*name).to_string());
        out.push_str(":[");
        for (i, record) in records.iter().enumerate() {
            out.push_str(if i == 0 { "\n" } else { ",\n" });
            out.push_str(&record.to_string());
        }
        out.push_str("\n]");
    }
    out.push_str("}\n");
    out
}

/// Entries (`entry[].resource`) of a FHIR Bundle.
fn bundle_resources(bundle: &Value) -> impl Iterator<Item = &Value> {
    bundle
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("resource"))
}

/// String property of a JSON object.
fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Array property of a JSON object (empty when absent).
fn arr_of<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}
