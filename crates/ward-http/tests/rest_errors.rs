//! Failure paths (http.html, operationoutcome.html, RFC 6750):
//! - unparseable input → 400, invalid content → 422 listing every violation with `expression`;
//! - `_format`/`Accept` that cannot be served → 406, unsupported body media type → 415;
//! - bodies over the limit → 413; unknown type → 404; bad id → 400; wrong method → 405;
//! - no/invalid/expired token → 401 with `WWW-Authenticate: Bearer`; too small a scope → 403;
//! - `/metadata` is public; every error is an OperationOutcome without internal detail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use ward_auth::{PrincipalKind, ScopeSet};

#[tokio::test]
async fn malformed_bodies() {
    let app = common::app().await;
    let cases: &[(&str, u16, &str, &str)] = &[
        ("{\"resourceType\":\"Patient\",", 400, "invalid", ""),
        ("[1,2]", 400, "invalid", ""),
        ("", 400, "invalid", ""),
        (
            r#"{"resourceType":"Observation","status":"final","code":{"text":"x"}}"#,
            400,
            "invalid",
            "",
        ),
        (r#"{"name":[{"family":"x"}]}"#, 400, "invalid", ""),
        (
            r#"{"resourceType":"Patient","birthDate":"1980-13-45"}"#,
            422,
            "value",
            "Patient.birthDate",
        ),
        (
            r#"{"resourceType":"Patient","deceasedDateTime":"2020-01-01T10:00:00"}"#,
            422,
            "value",
            "Patient.deceasedDateTime",
        ),
        (
            r#"{"resourceType":"Patient","favouriteColour":"blue"}"#,
            422,
            "structure",
            "Patient.favouriteColour",
        ),
        (
            r#"{"resourceType":"Patient","name":{"family":"x"}}"#,
            422,
            "structure",
            "Patient.name",
        ),
        (
            r#"{"resourceType":"Patient","gender":"robot"}"#,
            422,
            "code-invalid",
            "Patient.gender",
        ),
        (
            r#"{"resourceType":"Patient","active":"yes"}"#,
            422,
            "value",
            "Patient.active",
        ),
        (
            r#"{"resourceType":"Patient","managingOrganization":{"reference":"not a ref"}}"#,
            422,
            "value",
            "Patient.managingOrganization.reference",
        ),
        (
            r#"{"resourceType":"Patient","multipleBirthBoolean":true,"multipleBirthInteger":2}"#,
            422,
            "structure",
            "Patient.multipleBirth",
        ),
    ];
    for (body, status, code, expr) in cases {
        let r = app.call("POST", "/fhir/Patient", Some(body)).await;
        assert_eq!(
            r.status.as_u16(),
            *status,
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let v = r.json();
        assert_eq!(v["resourceType"], "OperationOutcome", "{body}");
        let issues = v["issue"].as_array().unwrap();
        assert!(issues.iter().any(|i| i["code"] == *code), "{body}: {v}");
        if !expr.is_empty() {
            assert!(
                issues
                    .iter()
                    .any(|i| i["expression"][0].as_str().unwrap_or("").starts_with(expr)),
                "{body}: {v}"
            );
        }
    }
    // a missing required element (Observation.status, Observation.code)
    let r = app
        .call(
            "POST",
            "/fhir/Observation",
            Some(r#"{"resourceType":"Observation"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let exprs: Vec<String> = r.json()["issue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["expression"][0].as_str().unwrap().to_owned())
        .collect();
    assert!(
        exprs.contains(&"Observation.status".to_owned())
            && exprs.contains(&"Observation.code".to_owned()),
        "{exprs:?}"
    );
    // all violations at once, and no input values echoed
    let r = app.call("POST", "/fhir/Patient", Some(r#"{"resourceType":"Patient","gender":"Zanzibar-771","birthDate":"Zanzibar-772","x":1}"#)).await;
    assert_eq!(r.json()["issue"].as_array().unwrap().len(), 3);
    assert!(!String::from_utf8_lossy(&r.body).contains("Zanzibar"));
}

#[tokio::test]
async fn negotiation() {
    let app = common::app().await;
    let id = app.create(&json!({"resourceType":"Patient"})).await;
    let path = format!("/fhir/Patient/{id}");
    let xml = app
        .send(
            app.req("GET", &path)
                .header("accept", "application/fhir+xml")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(xml.status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(
        app.get(&format!("{path}?_format=xml")).await.status,
        StatusCode::NOT_ACCEPTABLE
    );
    assert_eq!(
        app.get(&format!("{path}?_format=json")).await.status,
        StatusCode::OK
    );
    let json_accept = app
        .send(
            app.req("GET", &path)
                .header("accept", "application/json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(json_accept.status, StatusCode::OK);
    let xml_body = app
        .send(
            app.bare("POST", "/fhir/Patient")
                .header("content-type", "application/fhir+xml")
                .body(Body::from("<Patient/>"))
                .unwrap(),
        )
        .await;
    assert_eq!(xml_body.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let plain = app
        .send(
            app.bare("POST", "/fhir/Patient")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(plain.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn limits_paths_and_methods() {
    let limits = ward_http::HttpLimits {
        max_body_bytes: 2048,
        ..Default::default()
    };
    let app = common::app_with(limits, ward_core::CoreConfig::new(common::BASE)).await;
    let big = format!(
        r#"{{"resourceType":"Patient","name":[{{"family":"{}"}}]}}"#,
        "a".repeat(4000)
    );
    let r = app.call("POST", "/fhir/Patient", Some(&big)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.issue().0, "too-costly");
    assert_eq!(
        app.get("/fhir/Unicorn/1").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/fhir/Patient/bad$id").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.call("POST", "/fhir/Patient/x", Some("{}")).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(app.get("/elsewhere").await.status, StatusCode::NOT_FOUND);
    let r = app.call("OPTIONS", "/fhir/Patient", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        app.get("/fhir/Patient/x")
            .await
            .header("x-request-id")
            .is_some()
    );
}

fn anon(path: &str) -> Request<Body> {
    Request::builder().uri(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn authentication_and_scopes() {
    let app = common::app().await;
    let meta = app.send(anon("/fhir/metadata")).await;
    assert_eq!(meta.status, StatusCode::OK);
    assert_eq!(meta.json()["resourceType"], "CapabilityStatement");
    assert_eq!(meta.json()["fhirVersion"], "4.0.1");

    for path in [
        "/fhir/Patient/1",
        "/fhir/Unicorn/1",
        "/fhir",
        "/fhir/_history",
    ] {
        let r = app.send(anon(path)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"ward\""));
        assert_eq!(r.issue().0, "login");
    }
    let bad = app
        .send(
            Request::builder()
                .uri("/fhir/Patient/1")
                .header("authorization", "Bearer abc.def.ghi")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(
        bad.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    let basic = app
        .send(
            Request::builder()
                .uri("/fhir/Patient/1")
                .header("authorization", "Basic dXNlcjpwYXNz")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    let expired = app
        .issuer
        .issue(
            "t",
            PrincipalKind::Operator,
            &ScopeSet::parse("system/*.cruds").unwrap(),
            common::now() - 7200,
            600,
        )
        .unwrap();
    let r = app
        .send(
            Request::builder()
                .uri("/fhir/Patient/1")
                .header("authorization", format!("Bearer {expired}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.issue().1.contains("expired"));

    let read_only = common::token_for(&app.issuer, "system/Patient.rs");
    let with = |method: &str, path: &str, body: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {read_only}"))
            .header("content-type", "application/fhir+json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let r = app
        .send(with(
            "POST",
            "/fhir/Patient",
            r#"{"resourceType":"Patient"}"#,
        ))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.issue().0, "forbidden");
    assert_eq!(
        app.send(with("GET", "/fhir/Observation/1", ""))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.send(with("GET", "/fhir/Patient/1", "")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(with("GET", "/fhir/_history", "")).await.status,
        StatusCode::FORBIDDEN,
        "system history needs a wildcard scope"
    );
    // patient/ scopes need a patient context, which operator tokens never have
    let patient_scope = common::token_for(&app.issuer, "patient/*.cruds");
    let r = app
        .send(
            Request::builder()
                .uri("/fhir/Patient/1")
                .header("authorization", format!("Bearer {patient_scope}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn validate_operation() {
    let app = common::app().await;
    let ok = app
        .post(
            "/fhir/Patient/$validate",
            &json!({"resourceType":"Patient","gender":"male"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json()["issue"][0]["severity"], "information");
    let bad = app
        .post(
            "/fhir/Patient/$validate",
            &json!({"resourceType":"Patient","gender":"m"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::OK);
    assert_eq!(bad.json()["issue"][0]["code"], "code-invalid");
    let params = json!({"resourceType":"Parameters","parameter":[{"name":"resource","resource":{"resourceType":"Patient","birthDate":"x"}}]});
    let r = app.post("/fhir/Patient/$validate", &params).await;
    assert_eq!(r.json()["issue"][0]["expression"][0], "Patient.birthDate");
    let id = app.create(&json!({"resourceType":"Patient"})).await;
    let inst = app
        .post(
            &format!("/fhir/Patient/{id}/$validate"),
            &json!({"resourceType":"Patient","id": id}),
        )
        .await;
    assert_eq!(inst.status, StatusCode::OK);
    assert_eq!(
        app.post(
            "/fhir/Patient/nope/$validate",
            &json!({"resourceType":"Patient"})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(
            "/fhir/Patient/$validate",
            &json!({"resourceType":"Observation"})
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.post("/fhir/Patient/$everything-else", &json!({}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // instance level without a body validates the stored version
    let stored = app
        .call("POST", &format!("/fhir/Patient/{id}/$validate"), None)
        .await;
    assert_eq!(stored.status, StatusCode::OK);
    assert_eq!(stored.json()["issue"][0]["severity"], "information");
    // mode=update: the body id must match the URL
    let wrong_id = app
        .post(
            &format!("/fhir/Patient/{id}/$validate?mode=update"),
            &json!({"resourceType":"Patient","id":"other"}),
        )
        .await;
    assert_eq!(wrong_id.status, StatusCode::OK);
    assert_eq!(wrong_id.json()["issue"][0]["code"], "invariant");
    let by_params = json!({"resourceType":"Parameters","parameter":[
        {"name":"mode","valueCode":"update"},
        {"name":"resource","resource":{"resourceType":"Patient","id": id}}]});
    let r = app
        .post(&format!("/fhir/Patient/{id}/$validate"), &by_params)
        .await;
    assert_eq!(r.json()["issue"][0]["severity"], "information");
    for (path, why) in [
        (
            "/fhir/Patient/$validate?mode=update",
            "update needs an instance",
        ),
        (
            "/fhir/Patient/$validate?mode=delete",
            "delete needs an instance",
        ),
        ("/fhir/Patient/$validate?mode=bogus", "unknown mode"),
        (
            "/fhir/Patient/$validate?mode=create&mode=create",
            "repeated",
        ),
    ] {
        let r = app.post(path, &json!({"resourceType":"Patient"})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{why}");
        assert_eq!(r.json()["resourceType"], "OperationOutcome");
    }
    assert_eq!(
        app.call("POST", "/fhir/Patient/$validate", None)
            .await
            .status,
        StatusCode::BAD_REQUEST,
        "type level needs a resource"
    );
    let profile = app
        .post(
            "/fhir/Patient/$validate?profile=http://example.org/StructureDefinition/x",
            &json!({"resourceType":"Patient"}),
        )
        .await;
    assert_eq!(profile.json()["issue"][0]["code"], "not-supported");
    let base = app
        .post(
            "/fhir/Patient/$validate?profile=http://hl7.org/fhir/StructureDefinition/Patient",
            &json!({"resourceType":"Patient"}),
        )
        .await;
    assert_eq!(base.json()["issue"][0]["severity"], "information");
    // mode=delete on a live instance is fine; on a deleted one 410
    let gone = app.create(&json!({"resourceType":"Patient"})).await;
    let path = format!("/fhir/Patient/{gone}/$validate?mode=delete");
    assert_eq!(app.call("POST", &path, None).await.status, StatusCode::OK);
    app.call("DELETE", &format!("/fhir/Patient/{gone}"), None)
        .await;
    assert_eq!(app.call("POST", &path, None).await.status, StatusCode::GONE);
    assert_eq!(
        app.call("POST", &format!("/fhir/Patient/{gone}/$validate"), None)
            .await
            .status,
        StatusCode::GONE
    );
    // $validate stores nothing (the history holds the creates and the delete above only)
    assert!(
        app.get("/fhir/Patient/_history").await.json()["entry"]
            .as_array()
            .unwrap()
            .len()
            == 3
    );
}
