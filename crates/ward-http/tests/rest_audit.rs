//! HIPAA §164.312(b) / IHE BALP: every interaction — reads, searches, writes, failures and
//! rejected tokens — leaves an AuditEvent that an auditor finds by patient, entity, agent,
//! action, outcome, type and subtype; AuditEvents are immutable through the API (405) and
//! readable only by the audit roles (403 otherwise); reading the trail is itself audited;
//! `Patient/{id}/$disclosures` lists each access to that patient and no one else's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use ward_auth::{PrincipalKind, ScopeSet};

fn total(v: &Value) -> u64 {
    v["total"]
        .as_u64()
        .unwrap_or_else(|| panic!("no total in {v}"))
}

#[tokio::test]
async fn interactions_are_audited_and_searchable() {
    let app = common::app().await;
    let p1 = app
        .create(&json!({"resourceType":"Patient","name":[{"family":"Auditee"}]}))
        .await;
    let p2 = app
        .create(&json!({"resourceType":"Patient","name":[{"family":"Other"}]}))
        .await;
    let obs = app.create(&json!({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference": format!("Patient/{p1}")}})).await;
    assert_eq!(
        app.get(&format!("/fhir/Observation/{obs}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/fhir/Observation?subject=Patient/{p1}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.call(
            "POST",
            "/fhir/Patient",
            Some(r#"{"resourceType":"Patient","gender":"x"}"#)
        )
        .await
        .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let anon = app
        .send(
            Request::get(format!("/fhir/Patient/{p1}"))
                .header("authorization", "Bearer forged")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);

    // by patient: the create of the Observation, its read and the search
    let by_patient = app
        .get(&format!("/fhir/AuditEvent?patient=Patient/{p1}&_count=100"))
        .await
        .json();
    let subtypes: Vec<&str> = by_patient["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["subtype"][0]["code"].as_str().unwrap())
        .collect();
    for want in ["create", "read", "search-type"] {
        assert!(subtypes.contains(&want), "{want} missing in {subtypes:?}");
    }
    let read = by_patient["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["subtype"][0]["code"] == "read")
        .unwrap();
    let ev = &read["resource"];
    assert_eq!(ev["action"], "R");
    assert_eq!(ev["outcome"], "0");
    assert_eq!(ev["agent"][0]["altId"], "tester");
    assert!(
        ev["entity"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["what"]["reference"] == format!("Observation/{obs}/_history/1"))
    );
    // the other patient's data was never read
    let other = app
        .get(&format!(
            "/fhir/AuditEvent?patient=Patient/{p2}&subtype=read"
        ))
        .await
        .json();
    assert_eq!(total(&other), 0);
    // by action, outcome, entity, agent, type
    assert!(
        total(
            &app.get("/fhir/AuditEvent?action=C&_total=accurate")
                .await
                .json()
        ) >= 3
    );
    assert_eq!(
        total(
            &app.get("/fhir/AuditEvent?outcome=4&subtype=create")
                .await
                .json()
        ),
        1,
        "the rejected create"
    );
    assert!(
        total(
            &app.get(&format!(
                "/fhir/AuditEvent?entity=Observation/{obs}/_history/1"
            ))
            .await
            .json()
        ) >= 2
    );
    assert!(
        total(
            &app.get("/fhir/AuditEvent?altid=tester&_total=accurate")
                .await
                .json()
        ) >= 5
    );
    let rejected = app
        .get("/fhir/AuditEvent?type=http://dicom.nema.org/resources/ontology/DCM|110113")
        .await
        .json();
    assert_eq!(total(&rejected), 1, "the forged token");
    assert!(
        total(
            &app.get("/fhir/AuditEvent?date=ge2020-01-01&_total=accurate")
                .await
                .json()
        ) >= 6
    );
    // reading the trail is itself audited
    let before = total(
        &app.get("/fhir/AuditEvent?subtype=search-type&_summary=count")
            .await
            .json(),
    );
    let after = total(
        &app.get("/fhir/AuditEvent?subtype=search-type&_summary=count")
            .await
            .json(),
    );
    assert_eq!(after, before + 1);
}

/// The AuditEvent parameters Ward does not index (ward_store::index::UNINDEXED) are not
/// offered, and a search by one is a search by an unknown parameter: a warning when lenient,
/// 400 under `Prefer: handling=strict` — never a silently empty result.
#[tokio::test]
async fn unindexed_audit_parameters_are_unknown_not_silently_empty() {
    let app = common::app().await;
    app.create(&json!({"resourceType": "Patient", "id": "x"}))
        .await;
    let meta = app.get("/fhir/metadata").await.json();
    let audit = meta["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "AuditEvent")
        .unwrap();
    let names: Vec<&str> = audit["searchParam"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for kept in [
        "date", "agent", "entity", "patient", "action", "outcome", "type", "subtype",
    ] {
        assert!(names.contains(&kept), "{kept} offered");
    }
    for (t, code) in ward_store::index::UNINDEXED {
        assert_eq!(t, "AuditEvent");
        assert!(!names.contains(&code), "{code} not offered");
    }
    let lenient = app
        .get("/fhir/AuditEvent?entity-type=2&_total=accurate")
        .await;
    assert_eq!(lenient.status, StatusCode::OK);
    let body = lenient.json();
    assert!(total(&body) >= 1, "the parameter is ignored, not matched");
    let warning = body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["resourceType"] == "OperationOutcome")
        .expect("a warning OperationOutcome in the Bundle");
    assert_eq!(warning["search"]["mode"], "outcome");
    assert!(
        warning["resource"].to_string().contains("entity-type"),
        "the warning names the ignored parameter: {warning}"
    );
    let strict = app
        .send(
            app.bare("GET", "/fhir/AuditEvent?entity-type=2")
                .header("prefer", "handling=strict")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(strict.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_trail_is_immutable_and_for_auditors_only() {
    let app = common::app().await;
    app.create(&json!({"resourceType":"Patient"})).await;
    let any = app.get("/fhir/AuditEvent?_count=1").await.json();
    let id = any["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ev = any["entry"][0]["resource"].clone();
    assert_eq!(
        app.post("/fhir/AuditEvent", &ev).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        app.put(&format!("/fhir/AuditEvent/{id}"), &ev).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        app.call("DELETE", &format!("/fhir/AuditEvent/{id}"), None)
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let patch = app
        .bare("PATCH", &format!("/fhir/AuditEvent/{id}"))
        .header("content-type", "application/json-patch+json")
        .body(Body::from("[]"))
        .unwrap();
    assert_eq!(app.send(patch).await.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        app.get(&format!("/fhir/AuditEvent/{id}")).await.status,
        StatusCode::OK
    );

    // a clinician with every scope still may not read the trail
    let clinician = app
        .issuer
        .issue(
            "dr",
            PrincipalKind::User,
            &ScopeSet::parse("user/*.cruds").unwrap(),
            common::now(),
            600,
        )
        .unwrap();
    let get = |path: &str| {
        Request::get(path)
            .header("authorization", format!("Bearer {clinician}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        app.send(get("/fhir/AuditEvent")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.send(get(&format!("/fhir/AuditEvent/{id}")))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let sys = app.send(get("/fhir?_type=AuditEvent")).await;
    assert_eq!(sys.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn accounting_of_disclosures() {
    let app = common::app().await;
    let p1 = app.create(&json!({"resourceType":"Patient"})).await;
    let p2 = app.create(&json!({"resourceType":"Patient"})).await;
    let o1 = app.create(&json!({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference": format!("Patient/{p1}")}})).await;
    let o2 = app.create(&json!({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference": format!("Patient/{p2}")}})).await;
    app.get(&format!("/fhir/Observation/{o1}")).await;
    app.get(&format!("/fhir/Observation/{o2}")).await;
    // one search returning both patients' Observations
    let both = app
        .get(&format!("/fhir/Observation?_id={o1},{o2}"))
        .await
        .json();
    assert_eq!(both["entry"].as_array().unwrap().len(), 2);
    let r = app.get(&format!("/fhir/Patient/{p1}/$disclosures")).await;
    assert_eq!(r.status, StatusCode::OK);
    let report = r.json();
    let rows = report["parameter"].as_array().unwrap();
    let part = |row: &Value, name: &str| {
        row["part"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone()
    };
    let whats: Vec<String> = rows
        .iter()
        .map(|r| part(r, "what")["valueString"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        whats
            .iter()
            .any(|w| w.contains(&format!("Observation/{o1}"))),
        "{whats:?}"
    );
    assert!(
        !whats.iter().any(|w| w.contains(&o2) || w.contains(&p2)),
        "nothing about the other patient: {whats:?}"
    );
    let search = rows
        .iter()
        .find(|r| part(r, "action")["valueCode"] == "search-type")
        .expect("the search that returned p1's Observation is listed");
    assert_eq!(
        part(search, "what")["valueString"],
        format!("Observation/{o1}/_history/1"),
        "only p1's resource of that search"
    );
    let p2_report = app
        .get(&format!("/fhir/Patient/{p2}/$disclosures"))
        .await
        .json();
    let p2_whats = p2_report["parameter"].to_string();
    assert!(
        p2_whats.contains(&o2) && !p2_whats.contains(&o1),
        "{p2_whats}"
    );
    let read = rows
        .iter()
        .find(|r| part(r, "action")["valueCode"] == "read")
        .unwrap();
    assert_eq!(part(read, "who")["valueString"], "tester");
    assert!(
        part(read, "date")["valueInstant"]
            .as_str()
            .unwrap()
            .starts_with("20")
    );
    let later = app
        .get(&format!("/fhir/Patient/{p1}/$disclosures?start=2999-01-01"))
        .await
        .json();
    assert!(
        later
            .get("parameter")
            .is_none_or(|p| p.as_array().unwrap().is_empty())
    );
    // a clinician may not pull it
    let clinician = app
        .issuer
        .issue(
            "dr",
            PrincipalKind::User,
            &ScopeSet::parse("user/*.cruds").unwrap(),
            common::now(),
            600,
        )
        .unwrap();
    let r = app
        .send(
            Request::get(format!("/fhir/Patient/{p1}/$disclosures"))
                .header("authorization", format!("Bearer {clinician}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
