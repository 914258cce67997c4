//! FHIR R4 http.html#ccreate, #cond-update, #cond-patch, #cdelete and #trules (conditional
//! entries and conditional references in transactions):
//! - If-None-Exist: no match → 201; one match → 200 with the existing resource; several → 412;
//! - conditional update: no match → create; one → update it (an id in the body must agree);
//!   several → 412;
//! - conditional patch: one match → patched; none → 404; several → 412;
//! - conditional delete: one → deleted (204 + ETag); none → 204; several → 412;
//! - criteria are parsed strictly (unknown parameter → 400);
//! - in a transaction these settle before any write, and `Type?criteria` references resolve to
//!   the single match (else the whole transaction fails with 412).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};

fn patient(value: &str) -> Value {
    json!({"resourceType":"Patient","identifier":[{"system":"urn:mrn","value": value}],"gender":"female"})
}

#[tokio::test]
async fn conditional_create() {
    let app = common::app().await;
    let send = |body: Value, criteria: &str| {
        app.req("POST", "/fhir/Patient")
            .header("if-none-exist", criteria)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let first = app.send(send(patient("a1"), "identifier=urn:mrn|a1")).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let id = first.json()["id"].as_str().unwrap().to_owned();
    let again = app.send(send(patient("a1"), "identifier=urn:mrn|a1")).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["id"], id.as_str());
    assert_eq!(again.header("etag"), Some("W/\"1\""));
    assert!(again.header("location").unwrap().contains(&id));
    let also = app
        .send(send(patient("a1"), "Patient?identifier=urn:mrn%7Ca1"))
        .await;
    assert_eq!(
        also.status,
        StatusCode::OK,
        "the Type? prefix form is accepted"
    );
    app.create(&patient("dup")).await;
    app.create(&patient("dup")).await;
    assert_eq!(
        app.send(send(patient("dup"), "identifier=urn:mrn|dup"))
            .await
            .status,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        app.send(send(patient("x"), "favourite=blue")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.send(send(patient("x"), "")).await.status,
        StatusCode::BAD_REQUEST
    );
    let history = app.get("/fhir/Patient/_history").await.json();
    assert_eq!(
        history["entry"].as_array().unwrap().len(),
        3,
        "no duplicate was created"
    );
}

#[tokio::test]
async fn conditional_update_patch_delete() {
    let app = common::app().await;
    // no match: created (server id, or the body's id)
    let r = app
        .put("/fhir/Patient?identifier=urn:mrn|u1", &patient("u1"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    // one match: updated
    let mut p = patient("u1");
    p["gender"] = "male".into();
    let r = app.put("/fhir/Patient?identifier=urn:mrn|u1", &p).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["id"], id.as_str());
    assert_eq!(r.json()["meta"]["versionId"], "2");
    p["id"] = "someone-else".into();
    assert_eq!(
        app.put("/fhir/Patient?identifier=urn:mrn|u1", &p)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    let patch = |q: &str, ops: Value| {
        app.bare("PATCH", &format!("/fhir/Patient?{q}"))
            .header("content-type", "application/json-patch+json")
            .body(Body::from(ops.to_string()))
            .unwrap()
    };
    let r = app
        .send(patch(
            "identifier=urn:mrn|u1",
            json!([{"op":"replace","path":"/gender","value":"other"}]),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["gender"], "other");
    assert_eq!(
        app.send(patch("identifier=urn:mrn|none", json!([])))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    app.create(&patient("d")).await;
    app.create(&patient("d")).await;
    assert_eq!(
        app.call("DELETE", "/fhir/Patient?identifier=urn:mrn|d", None)
            .await
            .status,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        app.send(patch("identifier=urn:mrn|d", json!([])))
            .await
            .status,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        app.put("/fhir/Patient?identifier=urn:mrn|d", &patient("d"))
            .await
            .status,
        StatusCode::PRECONDITION_FAILED
    );
    let none = app
        .call("DELETE", "/fhir/Patient?identifier=urn:mrn|nobody", None)
        .await;
    assert_eq!(none.status, StatusCode::NO_CONTENT);
    assert!(none.header("etag").is_none());
    let one = app
        .call("DELETE", "/fhir/Patient?identifier=urn:mrn|u1", None)
        .await;
    assert_eq!(one.status, StatusCode::NO_CONTENT);
    assert_eq!(one.header("etag"), Some("W/\"4\""));
    assert_eq!(
        app.get(&format!("/fhir/Patient/{id}")).await.status,
        StatusCode::GONE
    );
    assert_eq!(
        app.call("DELETE", "/fhir/Patient?bogus=1", None)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn transaction_conditionals_and_conditional_references() {
    let app = common::app().await;
    let existing = app.create(&patient("t1")).await;
    let gone = app.create(&json!({"resourceType":"Organization","identifier":[{"system":"urn:org","value":"old"}]})).await;
    let bundle = json!({"resourceType":"Bundle","type":"transaction","entry":[
        {"fullUrl":"urn:uuid:00000000-0000-0000-0000-000000000001","resource":patient("t1"),
         "request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:mrn|t1"}},
        {"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},
                     "subject":{"reference":"urn:uuid:00000000-0000-0000-0000-000000000001"},
                     "performer":[{"reference":"Patient?identifier=urn:mrn|t1"}]},
         "request":{"method":"POST","url":"Observation"}},
        {"resource":{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"t2"}],"gender":"male"},
         "request":{"method":"PUT","url":"Patient?identifier=urn:mrn|t2"}},
        {"request":{"method":"DELETE","url":"Organization?identifier=urn:org|old"}},
        {"request":{"method":"DELETE","url":"Organization?identifier=urn:org|never"}}
    ]});
    let r = app.post("/fhir", &bundle).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let e = r.json()["entry"].as_array().unwrap().clone();
    assert_eq!(e[0]["response"]["status"], "200 OK");
    assert_eq!(e[0]["resource"]["id"], existing.as_str());
    assert_eq!(e[1]["response"]["status"], "201 Created");
    assert_eq!(
        e[1]["resource"]["subject"]["reference"],
        format!("Patient/{existing}")
    );
    assert_eq!(
        e[1]["resource"]["performer"][0]["reference"],
        format!("Patient/{existing}")
    );
    assert_eq!(e[2]["response"]["status"], "201 Created");
    assert_eq!(e[3]["response"]["status"], "204 No Content");
    assert_eq!(e[4]["response"]["status"], "204 No Content");
    assert_eq!(
        app.get(&format!("/fhir/Organization/{gone}")).await.status,
        StatusCode::GONE
    );

    // a conditional reference with no match fails the whole transaction
    let bad = json!({"resourceType":"Bundle","type":"transaction","entry":[
        {"resource":{"resourceType":"Organization","name":"N"},"request":{"method":"POST","url":"Organization"}},
        {"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?identifier=urn:mrn|nobody"}},
         "request":{"method":"POST","url":"Observation"}}
    ]});
    assert_eq!(
        app.post("/fhir", &bad).await.status,
        StatusCode::PRECONDITION_FAILED
    );
    let orgs = app.get("/fhir/Organization?name=N").await.json();
    assert_eq!(orgs["total"], 0, "rolled back");
}
