//! SMART App Launch 2 compartment confinement of deleted resources: a `patient/` token asking
//! for another patient's *deleted* resource gets 404 like for a live one (http.html#read would
//! answer 410 Gone, which confirms the resource existed); its own deleted resource is 410.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod oauth;

use serde_json::json;

use common::app;
use oauth::*;

#[tokio::test(flavor = "multi_thread")]
async fn deleted_resources_of_other_patients_stay_hidden() {
    let app = app().await;
    seed(
        &app,
        &[
            json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "One"}]}),
            json!({"resourceType": "Patient", "id": "p2", "name": [{"family": "Two"}]}),
            json!({"resourceType": "Observation", "id": "mine", "status": "final",
                "code": {"text": "x"}, "subject": {"reference": "Patient/p1"}}),
            json!({"resourceType": "Observation", "id": "theirs", "status": "final",
                "code": {"text": "x"}, "subject": {"reference": "Patient/p2"}}),
        ],
    )
    .await;
    for id in ["mine", "theirs"] {
        let d = app
            .call("DELETE", &format!("/fhir/Observation/{id}"), None)
            .await;
        assert!(d.status.is_success(), "{}", text(&d));
    }
    public_client(&app, "app", "launch/patient patient/*.rs").await;
    user(&app, "pat", "patient", Some("p1"), None).await;
    let t = launch(&app, "app", "pat", "launch/patient patient/*.rs", &[]).await;
    let at = t["access_token"].as_str().unwrap();

    assert_eq!(
        fhir_get(&app, "/fhir/Observation/mine", at).await.status,
        410
    );
    let theirs = fhir_get(&app, "/fhir/Observation/theirs", at).await;
    assert_eq!(theirs.status, 404, "{}", text(&theirs));
    assert!(theirs.header("etag").is_none(), "no version leaks");
    assert_eq!(
        fhir_get(&app, "/fhir/Observation/theirs/_history", at)
            .await
            .status,
        404
    );
    assert_eq!(
        fhir_get(&app, "/fhir/Observation/theirs/_history/2", at)
            .await
            .status,
        404
    );
    assert_eq!(
        fhir_get(&app, "/fhir/Observation/theirs/_history/1", at)
            .await
            .status,
        404
    );
    // the operator still sees the deletion as such
    assert_eq!(app.get("/fhir/Observation/theirs").await.status, 410);
}
