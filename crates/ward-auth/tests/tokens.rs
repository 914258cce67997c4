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

/// The verified-token memo of `Authenticator` changes nothing observable: the same token
/// still expires on time, a revocation still takes effect at once, and a token that differs
/// in one byte is verified afresh (and refused).
#[tokio::test(flavor = "multi_thread")]
async fn remembered_verification_keeps_expiry_and_revocation() {
    use std::sync::Arc;
    use ward_store::AuthStore;
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(store(dir.path()).await);
    let keys = SigningKeys::load_or_create(s.as_ref(), NOW).await.unwrap();
    let issuer = TokenIssuer::new(&keys, ISS, AUD).unwrap();
    let verifier = TokenVerifier::new(&keys, ISS, AUD).unwrap();
    let authn = ward_auth::Authenticator::new(verifier, s.clone());
    let scopes = ScopeSet::parse("system/*.cruds").unwrap();
    let tok = issuer
        .issue("operator", PrincipalKind::Operator, &scopes, NOW, 600)
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            authn.authenticate(&tok, NOW + 1).await.unwrap().subject,
            "operator"
        );
    }
    assert!(
        authn.authenticate(&tok, NOW + 600 + 29).await.is_ok(),
        "leeway"
    );
    assert!(matches!(
        authn.authenticate(&tok, NOW + 600 + 31).await,
        Err(AuthError::Expired)
    ));
    let mut flipped = tok.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    assert!(authn.authenticate(&flipped, NOW + 1).await.is_err());

    let tok2 = issuer
        .issue("operator", PrincipalKind::Operator, &scopes, NOW, 600)
        .unwrap();
    let p = authn.authenticate(&tok2, NOW + 1).await.unwrap();
    s.revoke(&p.token_id, NOW + 600).await.unwrap();
    assert!(matches!(
        authn.authenticate(&tok2, NOW + 2).await,
        Err(AuthError::Revoked)
    ));
}
