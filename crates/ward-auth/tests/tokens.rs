//! Access tokens (SMART App Launch 2 / RFC 9068 shape): ES256 with `kid`; signature, algorithm,
//! issuer, audience, expiry and not-before are all enforced.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ward_auth::{
    AuthError, Permission, PrincipalKind, ScopeSet, SigningKeys, TokenIssuer, TokenVerifier,
};
use ward_crypto::MasterKey;
use ward_store::KeyRing;
use ward_store_sqlite::{SqliteOptions, SqliteStore};

const ISS: &str = "https://localhost:8443/auth";
const AUD: &str = "https://localhost:8443/fhir";
const NOW: i64 = 1_800_000_000;

async fn store(dir: &std::path::Path) -> SqliteStore {
    let ring = KeyRing::new(MasterKey::from_hex("ab".repeat(32).as_bytes()).unwrap());
    SqliteStore::open(SqliteOptions::new(dir.join("w.db")), ring)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_verify_and_reject() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path()).await;
    let keys = SigningKeys::load_or_create(&s, NOW).await.unwrap();
    let issuer = TokenIssuer::new(&keys, ISS, AUD).unwrap();
    let verifier = TokenVerifier::new(&keys, ISS, AUD).unwrap();
    let scopes = ScopeSet::parse("system/*.cruds").unwrap();
    let tok = issuer
        .issue("operator", PrincipalKind::Operator, &scopes, NOW, 3600)
        .unwrap();

    let p = verifier.verify(&tok, NOW + 10).unwrap();
    assert_eq!(p.subject, "operator");
    assert_eq!(p.kind, PrincipalKind::Operator);
    assert!(p.scopes.grants_unrestricted("Patient", Permission::Delete));

    assert!(matches!(
        verifier.verify(&tok, NOW + 3600 + 31),
        Err(AuthError::Expired)
    ));
    assert!(verifier.verify(&tok, NOW + 3600 + 29).is_ok(), "leeway");
    assert!(matches!(
        verifier.verify(&tok, NOW - 31),
        Err(AuthError::NotYetValid)
    ));

    let other_aud = TokenVerifier::new(&keys, ISS, "https://elsewhere/fhir").unwrap();
    assert!(matches!(
        other_aud.verify(&tok, NOW),
        Err(AuthError::WrongAudience)
    ));
    let other_iss = TokenVerifier::new(&keys, "https://evil/auth", AUD).unwrap();
    assert!(matches!(
        other_iss.verify(&tok, NOW),
        Err(AuthError::WrongAudience)
    ));

    // tampered payload
    let parts: Vec<&str> = tok.split('.').collect();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["scope"] = "system/*.cruds user/*.cruds".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    assert!(matches!(
        verifier.verify(&forged, NOW),
        Err(AuthError::InvalidToken)
    ));

    // alg=none and garbage
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    assert!(
        verifier
            .verify(&format!("{none_header}.{}.", parts[1]), NOW)
            .is_err()
    );
    assert!(matches!(
        verifier.verify("not-a-jwt", NOW),
        Err(AuthError::InvalidToken)
    ));
    assert!(verifier.verify("", NOW).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_persist_and_rotation_keeps_previous_key() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path()).await;
    let k1 = SigningKeys::load_or_create(&s, NOW).await.unwrap();
    let again = SigningKeys::load_or_create(&s, NOW).await.unwrap();
    assert_eq!(
        k1.current().unwrap().public(),
        again.current().unwrap().public()
    );
    let old_token = TokenIssuer::new(&k1, ISS, AUD)
        .unwrap()
        .issue(
            "op",
            PrincipalKind::Operator,
            &ScopeSet::parse("system/*.rs").unwrap(),
            NOW,
            60,
        )
        .unwrap();
    let k2 = SigningKeys::rotate(&s, NOW).await.unwrap();
    assert_ne!(
        k1.current().unwrap().public().kid,
        k2.current().unwrap().public().kid
    );
    assert_eq!(k2.all().len(), 2);
    let v2 = TokenVerifier::new(&k2, ISS, AUD).unwrap();
    assert!(
        v2.verify(&old_token, NOW).is_ok(),
        "previous key still verifies"
    );
    let k3 = SigningKeys::rotate(&s, NOW).await.unwrap();
    let v3 = TokenVerifier::new(&k3, ISS, AUD).unwrap();
    assert!(
        v3.verify(&old_token, NOW).is_err(),
        "keys older than the previous one are dropped"
    );
}
