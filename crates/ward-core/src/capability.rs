//! The CapabilityStatement (`GET /metadata`): exactly the interactions, formats and operations
//! this build supports, for every R4 resource type.

use serde_json::{Value, json};
use ward_spec::{SearchParamType, TypeKind, r4};

use ward_store::search::Registry;

use crate::CoreConfig;

/// Ward's version, reported in `software.version`.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Builds the statement.
pub(crate) fn statement(config: &CoreConfig, custom: &Registry) -> Value {
    let spec = r4();
    let resources: Vec<Value> = spec
        .resource_types()
        .iter()
        .filter(|t| {
            spec.type_def(t)
                .is_some_and(|d| d.kind == TypeKind::Resource && !d.is_abstract)
        })
        .map(|t| resource_entry(t, custom))
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-25",
        "publisher": "Ward",
        "kind": "instance",
        "software": {"name": "Ward", "version": VERSION},
        "implementation": {"description": "Ward FHIR R4 server", "url": config.base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [{
            "mode": "server",
            "security": security(config),
            "resource": resources,
            "interaction": [
                {"code": "transaction"},
                {"code": "batch"},
                {"code": "search-system"},
                {"code": "history-system"}
            ],
            "searchParam": common_search_params(),
            "operation": [{
                "name": "validate",
                "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"
            }, {
                "name": "reindex",
                "definition": format!("{}/OperationDefinition/reindex", config.base_url),
                "documentation": "Admin: recompute the search index of every resource (or of \
                    one type, at type level) after custom SearchParameters change."
            }]
        }]
    })
}

/// `rest.security`: SMART on FHIR with the oauth-uris extension (SMART App Launch 2).
fn security(config: &CoreConfig) -> Value {
    let public = config
        .base_url
        .strip_suffix("/fhir")
        .unwrap_or(&config.base_url);
    let uri =
        |name: &str, path: &str| json!({"url": name, "valueUri": format!("{public}/auth/{path}")});
    json!({
        "cors": true,
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [
                uri("authorize", "authorize"),
                uri("token", "token"),
                uri("introspect", "introspect"),
                uri("revoke", "revoke"),
                uri("manage", "login")
            ]
        }],
        "service": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
            "code": "SMART-on-FHIR"
        }]}],
        "description": "Every request except GET /metadata and the SMART discovery document \
            needs an OAuth 2.0 bearer token (ES256 JWT) with SMART v1/v2 scopes; TLS is required."
    })
}

fn resource_entry(t: &str, custom: &Registry) -> Value {
    // The audit trail is read-only through the API (writes are 405).
    let read_only = t == crate::authz::AUDIT_EVENT;
    let codes: &[&str] = if read_only {
        &[
            "read",
            "vread",
            "history-instance",
            "history-type",
            "search-type",
        ]
    } else {
        &[
            "read",
            "vread",
            "update",
            "patch",
            "delete",
            "history-instance",
            "history-type",
            "create",
            "search-type",
        ]
    };
    let interactions: Vec<Value> = codes.iter().map(|c| json!({"code": c})).collect();
    let mut operations = vec![json!({
        "name": "validate",
        "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"
    })];
    if t == "Patient" {
        operations.push(json!({
            "name": "disclosures",
            "definition": "urn:ward:OperationDefinition/Patient-disclosures",
            "documentation": "HIPAA 164.528 accounting of disclosures of this patient's data, \
                built from the audit trail (start, end). Auditors, admins, or the patient."
        }));
    }
    json!({
        "type": t,
        "interaction": interactions,
        "versioning": "versioned-update",
        "readHistory": true,
        "updateCreate": !read_only,
        "conditionalCreate": !read_only,
        "conditionalRead": "full-support",
        "conditionalUpdate": !read_only,
        "conditionalDelete": if read_only { "not-supported" } else { "single" },
        "searchInclude": search_includes(t),
        "searchRevInclude": ["*"],
        "searchParam": search_params(t, custom),
        "operation": operations
    })
}

/// Parameter codes Ward answers without indexing an expression, plus those it indexes.
fn supported(p: &ward_spec::SearchParam) -> bool {
    p.kind != SearchParamType::Special
        && (p.expression.is_some() || p.code == "_id" || p.code == "_lastUpdated")
}

fn type_name(k: SearchParamType) -> &'static str {
    match k {
        SearchParamType::Number => "number",
        SearchParamType::Date => "date",
        SearchParamType::String => "string",
        SearchParamType::Token => "token",
        SearchParamType::Reference => "reference",
        SearchParamType::Composite => "composite",
        SearchParamType::Quantity => "quantity",
        SearchParamType::Uri => "uri",
        SearchParamType::Special => "special",
    }
}

/// Every search parameter of `t` Ward supports (built in, then custom), with its type and
/// definition.
fn search_params(t: &str, custom: &Registry) -> Vec<Value> {
    let entry = |p: &ward_spec::SearchParam| json!({"name": p.code, "definition": p.url, "type": type_name(p.kind)});
    let mut v: Vec<Value> = r4()
        .search_params(t)
        .filter(|p| supported(p) && !ward_store::index::is_unindexed(t, &p.code))
        .map(entry)
        .collect();
    v.extend(custom.for_type(t).iter().map(|p| entry(p)));
    v
}

/// The parameters every type shares (whole-system search).
fn common_search_params() -> Vec<Value> {
    r4().search_params("Basic")
        .filter(|p| supported(p) && p.base.iter().any(|b| b == "Resource"))
        .map(|p| json!({"name": p.code, "definition": p.url, "type": type_name(p.kind)}))
        .collect()
}

/// `_include` values for `t`: each reference parameter, and `*`.
fn search_includes(t: &str) -> Vec<Value> {
    let mut v: Vec<Value> = r4()
        .search_params(t)
        .filter(|p| p.kind == SearchParamType::Reference && p.expression.is_some())
        .map(|p| Value::String(format!("{t}:{}", p.code)))
        .collect();
    v.push(Value::String("*".into()));
    v
}
