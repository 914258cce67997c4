//! SMART v2 granular scopes (`user/Observation.rs?category=laboratory`) narrow searches,
//! includes and history to the resources they admit; several restricted scopes are OR-ed;
//! conditional operations only ever see what the token may see (SMART App Launch 2,
//! scopes-and-launch-context "Finer-grained resource constraints using search parameters").

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

fn obs(id: &str, category: &str) -> Value {
    json!({"resourceType":"Observation","id": id,"status":"final",
           "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code": category}]}],
           "code":{"text":"x"}})
}

fn get(token: &str, path: &str) -> Request<Body> {
    Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

fn ids(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["entry"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["search"]["mode"] == "match")
                .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[tokio::test]
async fn granular_scopes_narrow_searches_and_conditionals() {
    let app = common::app().await;
    for (id, c) in [
        ("lab1", "laboratory"),
        ("lab2", "laboratory"),
        ("vit1", "vital-signs"),
        ("soc1", "social-history"),
    ] {
        assert_eq!(
            app.put(&format!("/fhir/Observation/{id}"), &obs(id, c))
                .await
                .status,
            StatusCode::CREATED
        );
    }
    let lab = common::token_for(&app.issuer, "user/Observation.rs?category=laboratory");
    let r = app.send(get(&lab, "/fhir/Observation")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["total"], 2);
    assert_eq!(ids(&r.json()), vec!["lab1", "lab2"]);
    assert_eq!(
        ids(&app
            .send(get(&lab, "/fhir/Observation?category=vital-signs"))
            .await
            .json()),
        Vec::<String>::new()
    );
    assert_eq!(
        app.send(get(&lab, "/fhir/Observation/vit1")).await.status,
        StatusCode::NOT_FOUND
    );
    let h = app
        .send(get(&lab, "/fhir/Observation/_history"))
        .await
        .json();
    assert_eq!(h["entry"].as_array().unwrap().len(), 2);

    let two = common::token_for(
        &app.issuer,
        "user/Observation.rs?category=laboratory user/Observation.rs?category=vital-signs",
    );
    assert_eq!(
        ids(&app.send(get(&two, "/fhir/Observation")).await.json()),
        vec!["lab1", "lab2", "vit1"]
    );

    // a conditional delete under a granular scope cannot reach outside it
    let del = common::token_for(&app.issuer, "user/Observation.rds?category=laboratory");
    let req = Request::delete("/fhir/Observation?_id=vit1")
        .header("authorization", format!("Bearer {del}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/fhir/Observation/vit1").await.status,
        StatusCode::OK,
        "outside the scope: untouched"
    );
    let req = Request::delete("/fhir/Observation?_id=lab1")
        .header("authorization", format!("Bearer {del}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/fhir/Observation/lab1").await.status,
        StatusCode::GONE
    );
}
