//! FHIR R4 http.html#capabilities: `GET /metadata` is public and returns a valid
//! CapabilityStatement that lists exactly what this server does: every R4 resource type, its
//! interactions and search parameters, conditional support, the operations, SMART security.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::body::Body;
use axum::http::Request;
use serde_json::Value;

#[tokio::test]
async fn capability_statement_is_valid_and_exact() {
    let app = common::app().await;
    let cs = app
        .send(Request::get("/fhir/metadata").body(Body::empty()).unwrap())
        .await
        .json();
    assert_eq!(
        ward_model::validate(&cs, Some("CapabilityStatement")),
        vec![],
        "valid R4"
    );
    let rest = &cs["rest"][0];
    let resources = rest["resource"].as_array().unwrap();
    assert_eq!(resources.len(), 146, "every concrete R4 resource type");
    let find = |t: &str| resources.iter().find(|r| r["type"] == t).unwrap().clone();
    let codes = |r: &Value| -> Vec<String> {
        r["interaction"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["code"].as_str().unwrap().to_owned())
            .collect()
    };
    let patient = find("Patient");
    for c in [
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "history-instance",
        "history-type",
        "create",
        "search-type",
    ] {
        assert!(codes(&patient).contains(&c.to_owned()), "{c}");
    }
    assert_eq!(patient["conditionalCreate"], true);
    assert_eq!(patient["conditionalDelete"], "single");
    assert!(
        patient["searchParam"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "birthdate" && p["type"] == "date")
    );
    assert!(
        patient["operation"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["name"] == "disclosures")
    );
    let audit = find("AuditEvent");
    assert!(
        !codes(&audit).contains(&"create".to_owned()),
        "the trail is read-only"
    );
    assert!(!codes(&audit).contains(&"delete".to_owned()));
    let system: Vec<&str> = rest["interaction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    for c in ["transaction", "batch", "history-system", "search-system"] {
        assert!(system.contains(&c), "{c}");
    }
    let ext = &rest["security"]["extension"][0];
    assert_eq!(
        ext["url"],
        "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    );
    assert_eq!(cs["fhirVersion"], "4.0.1");
    assert_eq!(
        cs["format"],
        serde_json::json!(["application/fhir+json", "json"])
    );
}
