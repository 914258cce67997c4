//! Issue #7 item 4 (no per-process security state) and SMART App Launch "refresh tokens":
//! two nodes sharing only a PostgreSQL database. A token issued by node A works on node B; a
//! refresh token rotated on A and replayed on B is refused and revokes its family on both;
//! an authorization code redeemed on A cannot be redeemed on B (RFC 6749 §4.1.2), and the
//! replay revokes what A issued; a resource written on A is read on B. Needs `WARD_TEST_POSTGRES_URL` (skipped otherwise).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod oauth;

use oauth::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_token_rotated_on_a_and_replayed_on_b_is_refused() {
    let Some((a, b)) = common::app_pair("smart_two_nodes").await else {
        return;
    };
    seed(
        &a,
        &[json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "One"}]})],
    )
    .await;
    public_client(&a, "app", "user/*.rs offline_access").await;
    user(&a, "doc", "clinician", None, None).await;
    let t = launch(&a, "app", "doc", "user/*.rs offline_access", &[]).await;
    let at1 = t["access_token"].as_str().unwrap().to_owned();
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    // A token issued by A works on B, and B sees A's writes.
    assert_eq!(fhir_get(&b, "/fhir/Patient/p1", &at1).await.status, 200);
    let refresh = |node, rt: String| async move {
        token_request(
            node,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("client_id", "app"),
            ],
            None,
        )
        .await
    };
    let r2 = refresh(&a, rt1.clone()).await;
    assert_eq!(r2.status, 200, "{}", text(&r2));
    let rt2 = r2.json()["refresh_token"].as_str().unwrap().to_owned();
    let at2 = r2.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(fhir_get(&b, "/fhir/Patient/p1", &at2).await.status, 200);
    // Replay of the rotated token on the other node: refused, and the family is revoked.
    let replay = refresh(&b, rt1).await;
    assert_eq!(replay.status, 400, "{}", text(&replay));
    assert_eq!(replay.json()["error"], "invalid_grant");
    let after = refresh(&a, rt2).await;
    assert_eq!(after.status, 400, "the family is revoked on every node");
    for node in [&a, &b] {
        assert_eq!(fhir_get(node, "/fhir/Patient/p1", &at2).await.status, 401);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_redeemed_on_a_cannot_be_redeemed_on_b() {
    let Some((a, b)) = common::app_pair("smart_two_nodes_code").await else {
        return;
    };
    seed(
        &a,
        &[json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "One"}]})],
    )
    .await;
    public_client(&a, "app", "user/*.rs offline_access").await;
    user(&a, "doc", "clinician", None, None).await;
    let (code, verifier) = launch_code(&a, "app", "doc", "user/*.rs offline_access", &[]).await;
    let first = redeem(&a, "app", &code, &verifier).await;
    assert_eq!(first.status, 200, "{}", text(&first));
    let at = first.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(fhir_get(&b, "/fhir/Patient/p1", &at).await.status, 200);
    let again = redeem(&b, "app", &code, &verifier).await;
    assert_eq!(again.status, 400, "{}", text(&again));
    assert_eq!(again.json()["error"], "invalid_grant");
    for node in [&a, &b] {
        assert_eq!(
            fhir_get(node, "/fhir/Patient/p1", &at).await.status,
            401,
            "the replay revoked the token on every node"
        );
    }
}
