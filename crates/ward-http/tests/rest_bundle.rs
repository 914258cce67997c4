//! FHIR R4 http.html#transaction: batch entries run independently; a transaction is atomic
//! (one bad entry rolls back everything), resolves `urn:uuid:` fullUrls into references, runs
//! DELETE, POST, PUT/PATCH, then GET, and rejects two entries that write the same resource.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::http::StatusCode;
use base64::Engine;
use serde_json::{Value, json};

fn entry(method: &str, url: &str, resource: Option<Value>, full_url: Option<&str>) -> Value {
    let mut e = json!({"request": {"method": method, "url": url}});
    if let Some(r) = resource {
        e["resource"] = r;
    }
    if let Some(f) = full_url {
        e["fullUrl"] = f.into();
    }
    e
}

#[tokio::test]
async fn transaction_resolves_placeholders_and_orders_entries() {
    let app = common::app().await;
    let old = app
        .create(&json!({"resourceType":"Organization","name":"Old"}))
        .await;
    let keep = app
        .create(&json!({"resourceType":"Organization","name":"Keep"}))
        .await;
    let bundle = json!({"resourceType":"Bundle","type":"transaction","entry":[
        entry("GET", &format!("Organization/{keep}"), None, None),
        entry("POST", "Observation", Some(json!({"resourceType":"Observation","status":"final","code":{"text":"hr"},"subject":{"reference":"urn:uuid:11111111-1111-1111-1111-111111111111"}})), None),
        entry("PUT", "Organization/org-fixed", Some(json!({"resourceType":"Organization","id":"org-fixed","name":"Fixed"})), Some("urn:uuid:22222222-2222-2222-2222-222222222222")),
        entry("POST", "Patient", Some(json!({"resourceType":"Patient","managingOrganization":{"reference":"urn:uuid:22222222-2222-2222-2222-222222222222"}})), Some("urn:uuid:11111111-1111-1111-1111-111111111111")),
        entry("DELETE", &format!("Organization/{old}"), None, None),
    ]});
    let r = app.post("/fhir", &bundle).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let b = r.json();
    assert_eq!(b["type"], "transaction-response");
    let e = b["entry"].as_array().unwrap();
    assert_eq!(e.len(), 5);
    assert_eq!(e[0]["response"]["status"], "200 OK");
    assert_eq!(e[0]["resource"]["name"], "Keep");
    assert_eq!(e[1]["response"]["status"], "201 Created");
    assert_eq!(e[2]["response"]["status"], "201 Created");
    assert_eq!(e[4]["response"]["status"], "204 No Content");
    let obs = e[1]["resource"].clone();
    let pat = e[3]["resource"].clone();
    assert_eq!(
        obs["subject"]["reference"],
        format!("Patient/{}", pat["id"].as_str().unwrap())
    );
    assert_eq!(
        pat["managingOrganization"]["reference"],
        "Organization/org-fixed"
    );
    assert!(
        e[3]["response"]["location"]
            .as_str()
            .unwrap()
            .contains("/_history/1")
    );
    assert_eq!(
        app.get(&format!("/fhir/Organization/{old}")).await.status,
        StatusCode::GONE
    );
    // processing order DELETE, POST, PUT: newest first in the system history
    let h = common::without_audit(app.get("/fhir/_history?_count=30").await.json());
    let methods: Vec<&str> = h["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request"]["method"].as_str().unwrap())
        .take(4)
        .collect();
    assert_eq!(methods, vec!["PUT", "POST", "POST", "DELETE"]);
}

#[tokio::test]
async fn transaction_is_atomic() {
    let app = common::app().await;
    let before = common::without_audit(app.get("/fhir/_history").await.json());
    assert!(before.get("entry").is_none());
    let bundle = json!({"resourceType":"Bundle","type":"transaction","entry":[
        entry("POST", "Patient", Some(json!({"resourceType":"Patient","gender":"female"})), None),
        entry("PUT", "Patient/p2", Some(json!({"resourceType":"Patient","id":"p2"})), None),
        entry("POST", "Patient", Some(json!({"resourceType":"Patient","gender":"not-a-gender"})), None),
    ]});
    let r = app.post("/fhir", &bundle).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json()["issue"][0]["expression"][0],
        "Bundle.entry[2].resource.Patient.gender"
    );
    assert!(
        common::without_audit(app.get("/fhir/_history").await.json())
            .get("entry")
            .is_none(),
        "nothing was written"
    );
    assert_eq!(
        app.get("/fhir/Patient/p2").await.status,
        StatusCode::NOT_FOUND
    );

    // a failing If-Match rolls back too
    app.put(
        "/fhir/Patient/p3",
        &json!({"resourceType":"Patient","id":"p3"}),
    )
    .await;
    let bundle = json!({"resourceType":"Bundle","type":"transaction","entry":[
        entry("POST", "Organization", Some(json!({"resourceType":"Organization","name":"A"})), None),
        {"request":{"method":"PUT","url":"Patient/p3","ifMatch":"W/\"7\""},"resource":{"resourceType":"Patient","id":"p3"}},
    ]});
    assert_eq!(
        app.post("/fhir", &bundle).await.status,
        StatusCode::PRECONDITION_FAILED
    );
    assert!(
        app.get("/fhir/Organization/_history")
            .await
            .json()
            .get("entry")
            .is_none()
    );

    // two entries writing one resource → 400
    let dup = json!({"resourceType":"Bundle","type":"transaction","entry":[
        entry("PUT", "Patient/p3", Some(json!({"resourceType":"Patient","id":"p3"})), None),
        entry("DELETE", "Patient/p3", None, None),
    ]});
    assert_eq!(
        app.post("/fhir", &dup).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn batch_entries_are_independent() {
    let app = common::app().await;
    let id = app
        .create(&json!({"resourceType":"Patient","gender":"male"}))
        .await;
    let patch = base64::engine::general_purpose::STANDARD
        .encode(r#"[{"op":"replace","path":"/gender","value":"female"}]"#);
    let bundle = json!({"resourceType":"Bundle","type":"batch","entry":[
        entry("POST", "Patient", Some(json!({"resourceType":"Patient","gender":"nope"})), None),
        entry("GET", &format!("Patient/{id}"), None, None),
        entry("GET", "Patient/missing", None, None),
        entry("POST", "Organization", Some(json!({"resourceType":"Organization","name":"B"})), None),
        entry("PATCH", &format!("Patient/{id}"), Some(json!({"resourceType":"Binary","contentType":"application/json-patch+json","data": patch})), None),
        entry("GET", "Patient?_id=x&_count=abc&_format=json", None, None),
    ]});
    let r = app.post("/fhir", &bundle).await;
    assert_eq!(r.status, StatusCode::OK);
    let e = r.json()["entry"].as_array().unwrap().clone();
    assert_eq!(e[0]["response"]["status"], "422 Unprocessable Entity");
    assert_eq!(
        e[0]["response"]["outcome"]["resourceType"],
        "OperationOutcome"
    );
    assert_eq!(e[1]["response"]["status"], "200 OK");
    assert_eq!(e[2]["response"]["status"], "404 Not Found");
    assert_eq!(e[3]["response"]["status"], "201 Created");
    assert_eq!(e[4]["response"]["status"], "200 OK");
    assert_eq!(e[4]["resource"]["gender"], "female");
    assert!(
        e[5]["response"]["status"]
            .as_str()
            .unwrap()
            .starts_with('4')
            || e[5]["response"]["status"]
                .as_str()
                .unwrap()
                .starts_with('5')
    );
}

#[tokio::test]
async fn bundle_errors() {
    let app = common::app().await;
    assert_eq!(
        app.post("/fhir", &json!({"resourceType":"Patient"}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.post(
            "/fhir",
            &json!({"resourceType":"Bundle","type":"collection"})
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    let no_request = json!({"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient"}}]});
    assert_eq!(
        app.post("/fhir", &no_request).await.status,
        StatusCode::BAD_REQUEST
    );
    let foreign = json!({"resourceType":"Bundle","type":"transaction","entry":[entry("GET", "https://elsewhere.example/fhir/Patient/1", None, None)]});
    assert_eq!(
        app.post("/fhir", &foreign).await.status,
        StatusCode::BAD_REQUEST
    );
    let nested = json!({"resourceType":"Bundle","type":"batch","entry":[entry("POST", "", Some(json!({"resourceType":"Bundle","type":"batch"})), None)]});
    let r = app.post("/fhir", &nested).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // a scope without write permission fails the whole transaction before anything runs
    let ro = common::token_for(&app.issuer, "system/*.rs");
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/fhir")
        .header("authorization", format!("Bearer {ro}"))
        .header("content-type", "application/fhir+json")
        .body(axum::body::Body::from(json!({"resourceType":"Bundle","type":"transaction","entry":[entry("POST","Patient",Some(json!({"resourceType":"Patient"})),None)]}).to_string()))
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::FORBIDDEN);
}
