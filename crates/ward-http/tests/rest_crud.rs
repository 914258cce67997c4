//! FHIR R4 http.html: read, vread, create, update (incl. update-as-create), patch, delete.
//! - create → 201, server-assigned id, `Location` with `_history/1`, `ETag: W/"1"`.
//! - update → version + 1; an id mismatch or a missing id → 400; update-as-create → 201.
//! - `If-Match` with a stale version → 412 (http.html#concurrency).
//! - `If-None-Match` / `If-Modified-Since` → 304 (http.html#cread).
//! - delete is logical: read → 410, old versions stay readable.
//! - `meta.versionId` / `meta.lastUpdated` are server-managed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::json;

fn patient() -> serde_json::Value {
    json!({"resourceType":"Patient","id":"client-chosen","meta":{"versionId":"77","lastUpdated":"2001-01-01T00:00:00Z","tag":[{"system":"urn:t","code":"keep"}]},
           "name":[{"family":"Okafor","given":["Ada"]}],"gender":"female","birthDate":"1980-05-06"})
}

#[tokio::test]
async fn create_read_vread() {
    let app = common::app().await;
    let r = app.post("/fhir/Patient", &patient()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let body = r.json();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_ne!(id, "client-chosen", "create ignores a client id");
    assert_eq!(body["meta"]["versionId"], "1");
    assert_ne!(body["meta"]["lastUpdated"], "2001-01-01T00:00:00Z");
    assert_eq!(body["meta"]["tag"][0]["code"], "keep");
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    assert_eq!(
        r.header("location").unwrap(),
        format!("{}/Patient/{id}/_history/1", common::BASE)
    );
    assert!(r.header("last-modified").unwrap().ends_with("GMT"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(
        r.header("content-type"),
        Some("application/fhir+json; charset=utf-8")
    );

    let read = app.get(&format!("/fhir/Patient/{id}")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json(), body);
    assert_eq!(read.header("etag"), Some("W/\"1\""));
    let v = app.get(&format!("/fhir/Patient/{id}/_history/1")).await;
    assert_eq!(v.status, StatusCode::OK);
    assert_eq!(v.json(), body);
    assert_eq!(
        app.get(&format!("/fhir/Patient/{id}/_history/2"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/fhir/Patient/unknown-id").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn update_versions_and_preconditions() {
    let app = common::app().await;
    let id = app.create(&patient()).await;
    let mut p = patient();
    p["id"] = id.clone().into();
    p["gender"] = "other".into();
    let r = app.put(&format!("/fhir/Patient/{id}"), &p).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["meta"]["versionId"], "2");
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    assert!(r.header("location").unwrap().ends_with("/_history/2"));

    // stale If-Match → 412, current If-Match → 200
    let stale = app
        .send(
            app.req("PUT", &format!("/fhir/Patient/{id}"))
                .header("if-match", "W/\"1\"")
                .body(Body::from(p.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.issue().0, "conflict");
    let ok = app
        .send(
            app.req("PUT", &format!("/fhir/Patient/{id}"))
                .header("if-match", "W/\"2\"")
                .body(Body::from(p.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json()["meta"]["versionId"], "3");

    // id mismatch / missing → 400
    let mut wrong = p.clone();
    wrong["id"] = "other".into();
    assert_eq!(
        app.put(&format!("/fhir/Patient/{id}"), &wrong).await.status,
        StatusCode::BAD_REQUEST
    );
    let mut missing = p.clone();
    missing.as_object_mut().unwrap().remove("id");
    assert_eq!(
        app.put(&format!("/fhir/Patient/{id}"), &missing)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // the body's type must match the endpoint
    let mut org = json!({"resourceType":"Organization","id": id.clone(),"name":"x"});
    assert_eq!(
        app.put(&format!("/fhir/Patient/{id}"), &org).await.status,
        StatusCode::BAD_REQUEST
    );
    org["id"] = "o1".into();
    assert_eq!(
        app.post("/fhir/Patient", &org).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn update_as_create_needs_create_permission() {
    let app = common::app().await;
    let mut p = patient();
    p["id"] = "chosen-1".into();
    let r = app.put("/fhir/Patient/chosen-1", &p).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["id"], "chosen-1");
    assert_eq!(r.json()["meta"]["versionId"], "1");
    // If-Match on a resource that does not exist → 412
    p["id"] = "chosen-2".into();
    let r = app
        .send(
            app.req("PUT", "/fhir/Patient/chosen-2")
                .header("if-match", "W/\"1\"")
                .body(Body::from(p.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    // a token that may update but not create
    let token = common::token_for(&app.issuer, "system/Patient.ru");
    let req = axum::http::Request::builder()
        .method("PUT")
        .uri("/fhir/Patient/chosen-3")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/fhir+json")
        .body(Body::from(
            json!({"resourceType":"Patient","id":"chosen-3"}).to_string(),
        ))
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn conditional_read() {
    let app = common::app().await;
    let id = app.create(&patient()).await;
    let path = format!("/fhir/Patient/{id}");
    let inm = app
        .send(
            app.req("GET", &path)
                .header("if-none-match", "W/\"1\"")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(inm.status, StatusCode::NOT_MODIFIED);
    assert!(inm.body.is_empty());
    assert_eq!(inm.header("etag"), Some("W/\"1\""));
    let other = app
        .send(
            app.req("GET", &path)
                .header("if-none-match", "W/\"9\"")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(other.status, StatusCode::OK);
    let lm = app
        .get(&path)
        .await
        .header("last-modified")
        .unwrap()
        .to_owned();
    let ims = app
        .send(
            app.req("GET", &path)
                .header("if-modified-since", &lm)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(ims.status, StatusCode::NOT_MODIFIED);
    let old = app
        .send(
            app.req("GET", &path)
                .header("if-modified-since", "Sat, 01 Jan 2000 00:00:00 GMT")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(old.status, StatusCode::OK);
}

#[tokio::test]
async fn delete_is_logical() {
    let app = common::app().await;
    let id = app.create(&patient()).await;
    let path = format!("/fhir/Patient/{id}");
    let d = app.call("DELETE", &path, None).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    assert_eq!(d.header("etag"), Some("W/\"2\""));
    let gone = app.get(&path).await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert_eq!(gone.issue().0, "deleted");
    assert_eq!(
        app.get(&format!("{path}/_history/1")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("{path}/_history/2")).await.status,
        StatusCode::GONE
    );
    // deleting again is a no-op; never-existing is 404
    assert_eq!(
        app.call("DELETE", &path, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.call("DELETE", "/fhir/Patient/never", None).await.status,
        StatusCode::NOT_FOUND
    );
    let h = app.get(&format!("{path}/_history")).await.json();
    assert_eq!(h["entry"][0]["request"]["method"], "DELETE");
    assert!(h["entry"][0].get("resource").is_none());
    assert_eq!(h["entry"][1]["resource"]["meta"]["versionId"], "1");
    // an update revives it as version 3
    let mut p = patient();
    p["id"] = id.clone().into();
    let r = app.put(&path, &p).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["meta"]["versionId"], "3");
}

#[tokio::test]
async fn json_patch() {
    let app = common::app().await;
    let id = app.create(&patient()).await;
    let path = format!("/fhir/Patient/{id}");
    let patch = |ops: serde_json::Value| {
        app.bare("PATCH", &path)
            .header("content-type", "application/json-patch+json")
            .body(Body::from(ops.to_string()))
            .unwrap()
    };
    let r = app.send(patch(json!([{"op":"replace","path":"/gender","value":"male"},{"op":"add","path":"/active","value":true}]))).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["gender"], "male");
    assert_eq!(r.json()["active"], true);
    assert_eq!(r.json()["meta"]["versionId"], "2");
    // the result is validated
    let bad = app
        .send(patch(
            json!([{"op":"replace","path":"/gender","value":"robot"}]),
        ))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json()["issue"][0]["expression"][0], "Patient.gender");
    // changing the id is refused; failed test op and bad paths are 422; garbage is 400
    assert_eq!(
        app.send(patch(json!([{"op":"replace","path":"/id","value":"x"}])))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.send(patch(
            json!([{"op":"test","path":"/gender","value":"female"}])
        ))
        .await
        .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.send(patch(json!([{"op":"remove","path":"/nothing/here"}])))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.send(patch(json!({"op":"bogus"}))).await.status,
        StatusCode::BAD_REQUEST
    );
    // JSON Patch needs its media type
    let wrong_type = app.req("PATCH", &path).body(Body::from("[]")).unwrap();
    assert_eq!(
        app.send(wrong_type).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    // stale If-Match
    let stale = app
        .bare("PATCH", &path)
        .header("content-type", "application/json-patch+json")
        .header("if-match", "W/\"1\"")
        .body(Body::from("[]"))
        .unwrap();
    assert_eq!(
        app.send(stale).await.status,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        app.get(&path).await.json()["meta"]["versionId"],
        "2",
        "failed patches change nothing"
    );
}

#[tokio::test]
async fn prefer_return() {
    let app = common::app().await;
    let send = |prefer: &'static str| {
        app.req("POST", "/fhir/Patient")
            .header("prefer", prefer)
            .body(Body::from(patient().to_string()))
            .unwrap()
    };
    let min = app.send(send("return=minimal")).await;
    assert_eq!(min.status, StatusCode::CREATED);
    assert!(min.body.is_empty());
    assert!(min.header("location").is_some());
    let oo = app.send(send("return=OperationOutcome")).await;
    assert_eq!(oo.json()["resourceType"], "OperationOutcome");
    assert_eq!(oo.json()["issue"][0]["severity"], "information");
    let rep = app.send(send("return=representation")).await;
    assert_eq!(rep.json()["resourceType"], "Patient");
}

#[tokio::test]
async fn summary_and_elements() {
    let app = common::app().await;
    let mut p = patient();
    p["text"] =
        json!({"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"});
    p["maritalStatus"] = json!({"text":"single"});
    let id = app.create(&p).await;
    let path = format!("/fhir/Patient/{id}");
    let subsetted = |v: &serde_json::Value| {
        v["meta"]["tag"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["code"] == "SUBSETTED")
    };
    let s = app.get(&format!("{path}?_summary=true")).await.json();
    assert_eq!(s["name"][0]["family"], "Okafor");
    assert!(s.get("maritalStatus").is_none(), "not a summary element");
    assert!(s.get("text").is_none());
    assert!(subsetted(&s));
    let d = app.get(&format!("{path}?_summary=data")).await.json();
    assert!(d.get("text").is_none());
    assert!(d.get("maritalStatus").is_some());
    let t = app.get(&format!("{path}?_summary=text")).await.json();
    assert!(t.get("text").is_some());
    assert!(t.get("name").is_none());
    let e = app
        .get(&format!("{path}?_elements=gender,birthDate"))
        .await
        .json();
    assert_eq!(e["gender"], "female");
    assert_eq!(e["id"], id.as_str());
    assert!(e.get("name").is_none());
    assert!(subsetted(&e));
    let full = app.get(&format!("{path}?_summary=false")).await.json();
    assert!(full.get("maritalStatus").is_some());
    assert!(!subsetted(&full));
    assert_eq!(
        app.get(&format!("{path}?_summary=nope")).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn decimals_round_trip_exactly() {
    let app = common::app().await;
    let body = r#"{"resourceType":"Observation","status":"final","code":{"text":"w"},"valueQuantity":{"value":1.50,"unit":"kg"},"component":[{"code":{"text":"c"},"valueQuantity":{"value":0.000100}}]}"#;
    let r = app.call("POST", "/fhir/Observation", Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let text = String::from_utf8(app.get(&format!("/fhir/Observation/{id}")).await.body).unwrap();
    assert!(text.contains(r#""value":1.50"#), "{text}");
    assert!(text.contains(r#""value":0.000100"#), "{text}");
}

#[tokio::test]
async fn head_and_pretty() {
    let app = common::app().await;
    let id = app.create(&patient()).await;
    let head = app.call("HEAD", &format!("/fhir/Patient/{id}"), None).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("etag"), Some("W/\"1\""));
    let pretty = app.get(&format!("/fhir/Patient/{id}?_pretty=true")).await;
    assert!(
        String::from_utf8(pretty.body)
            .unwrap()
            .contains("\n  \"resourceType\"")
    );
}
