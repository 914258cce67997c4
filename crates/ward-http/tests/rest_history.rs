//! FHIR R4 http.html#history: instance, type and system history, newest first, with `_since`,
//! `_count` and paging through signed, expiring cursors (a tampered cursor is 400).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::http::StatusCode;
use serde_json::{Value, json};

fn versions(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    format!(
                        "{}/{}",
                        e["fullUrl"].as_str().unwrap().rsplit('/').next().unwrap(),
                        e["response"]["etag"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn next_link(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")
        .map(|l| {
            format!(
                "/fhir{}",
                l["url"]
                    .as_str()
                    .unwrap()
                    .strip_prefix(common::BASE)
                    .unwrap()
            )
        })
}

#[tokio::test]
async fn history_levels_paging_and_since() {
    let app = common::app().await;
    let a = app
        .create(&json!({"resourceType":"Patient","gender":"male"}))
        .await;
    for g in ["female", "other", "unknown"] {
        let r = app
            .put(
                &format!("/fhir/Patient/{a}"),
                &json!({"resourceType":"Patient","id": a,"gender": g}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let o = app
        .create(&json!({"resourceType":"Organization","name":"Acme"}))
        .await;

    let inst = app.get(&format!("/fhir/Patient/{a}/_history")).await.json();
    assert_eq!(inst["type"], "history");
    assert_eq!(
        versions(&inst),
        vec![
            format!("{a}/W/\"4\""),
            format!("{a}/W/\"3\""),
            format!("{a}/W/\"2\""),
            format!("{a}/W/\"1\"")
        ]
    );
    assert_eq!(inst["entry"][3]["request"]["method"], "POST");
    assert_eq!(inst["entry"][0]["request"]["method"], "PUT");
    assert_eq!(inst["entry"][0]["resource"]["gender"], "unknown");

    let ty = app.get("/fhir/Organization/_history").await.json();
    assert_eq!(versions(&ty), vec![format!("{o}/W/\"1\"")]);
    let sys = common::without_audit(app.get("/fhir/_history?_count=100").await.json());
    assert_eq!(sys["entry"].as_array().unwrap().len(), 5);
    assert_eq!(sys["entry"][0]["resource"]["resourceType"], "Organization");

    // paging: every version exactly once, newest first
    let mut seen = Vec::new();
    let mut page = app
        .get(&format!("/fhir/Patient/{a}/_history?_count=3"))
        .await
        .json();
    loop {
        seen.extend(versions(&page));
        match next_link(&page) {
            Some(next) => page = app.get(&next).await.json(),
            None => break,
        }
    }
    assert_eq!(seen, versions(&inst));

    // _since in the future → empty; in the past → all
    let empty = app
        .get(&format!(
            "/fhir/Patient/{a}/_history?_since=2999-01-01T00:00:00Z"
        ))
        .await
        .json();
    assert!(empty.get("entry").is_none());
    let self_link = &inst["link"][0]["url"];
    assert_eq!(self_link, &format!("{}/Patient/{a}/_history", common::BASE));
    let all = app
        .get(&format!(
            "/fhir/Patient/{a}/_history?_since=2000-01-01T00:00:00%2B02:00"
        ))
        .await
        .json();
    assert_eq!(all["entry"].as_array().unwrap().len(), 4);

    // bad parameters and cursors
    assert_eq!(
        app.get(&format!("/fhir/Patient/{a}/_history?_since=yesterday"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get(&format!("/fhir/Patient/{a}/_history?_count=-1"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get(&format!("/fhir/Patient/{a}/_history?_page=forged.cursor"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let first = app
        .get(&format!("/fhir/Patient/{a}/_history?_count=1"))
        .await
        .json();
    let next = next_link(&first).unwrap();
    let cursor = next.split("_page=").nth(1).unwrap();
    let elsewhere = app
        .get(&format!("/fhir/Organization/_history?_page={cursor}"))
        .await;
    assert_eq!(
        elsewhere.status,
        StatusCode::BAD_REQUEST,
        "a cursor only pages its own history"
    );
    assert_eq!(
        app.get("/fhir/Patient/nobody/_history").await.status,
        StatusCode::NOT_FOUND
    );
}
