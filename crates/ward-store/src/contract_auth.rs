//! Contract checks for [`AuthStore`]: one-time redemption, revocation, replay cache, failure
//! counters and record round trips. Backends call [`run_all`] from their own tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::StoreError;
use crate::auth::{
    AuthStore, BreakGlassRecord, ClientRecord, CodeRecord, LaunchRecord, Redeemed, RefreshRecord,
    SessionRecord, UserRecord,
};

/// Runs every auth-state check against a fresh store.
pub async fn run_all(s: &dyn AuthStore) {
    clients_and_users(s).await;
    sessions(s).await;
    codes_redeem_once(s).await;
    refresh_redeem_once(s).await;
    revocation_and_replay(s).await;
    failures(s).await;
    launch_and_break_glass(s).await;
}

fn user(id: &str, name: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        username: name.into(),
        role: "clinician".into(),
        password_hash: "$argon2id$x".into(),
        fhir_user: Some("Practitioner/1".into()),
        patient: None,
        totp_sealed: None,
        totp_confirmed: false,
        totp_last_step: 0,
        recovery_hashes: vec!["aa".into()],
        break_glass: false,
        created: 1,
        disabled: false,
    }
}

async fn clients_and_users(s: &dyn AuthStore) {
    let c = ClientRecord {
        id: "app".into(),
        kind: "public".into(),
        scope: "patient/*.rs".into(),
        redirect_uris: vec!["https://app/cb".into()],
        jwks: None,
        jwks_url: None,
        secret_hash: None,
        created: 1,
        disabled: false,
    };
    s.put_client(&c).await.unwrap();
    assert_eq!(s.get_client("app").await.unwrap(), Some(c.clone()));
    let mut c2 = c.clone();
    c2.scope = "user/*.rs".into();
    s.put_client(&c2).await.unwrap();
    assert_eq!(
        s.get_client("app").await.unwrap().unwrap().scope,
        "user/*.rs"
    );
    assert!(s.get_client("nope").await.unwrap().is_none());
    assert_eq!(s.list_clients().await.unwrap().len(), 1);

    let u = user("u1", "alice");
    s.put_user(&u).await.unwrap();
    assert_eq!(s.find_user("alice").await.unwrap(), Some(u.clone()));
    assert_eq!(s.get_user("u1").await.unwrap(), Some(u.clone()));
    assert!(s.find_user("Alice ").await.unwrap().is_none());
    let mut u2 = u.clone();
    u2.totp_confirmed = true;
    s.put_user(&u2).await.unwrap();
    assert!(s.find_user("alice").await.unwrap().unwrap().totp_confirmed);
    let clash = user("u2", "alice");
    assert!(matches!(
        s.put_user(&clash).await,
        Err(StoreError::VersionConflict)
    ));
    assert_eq!(s.list_users().await.unwrap().len(), 1);
}

async fn sessions(s: &dyn AuthStore) {
    let mut sess = SessionRecord {
        id_hash: "h1".into(),
        user_id: None,
        mfa_done: false,
        csrf: "c".into(),
        pending: Some("{}".into()),
        created: 10,
        last_seen: 10,
    };
    s.put_session(&sess).await.unwrap();
    sess.user_id = Some("u1".into());
    s.put_session(&sess).await.unwrap();
    assert_eq!(s.get_session("h1").await.unwrap(), Some(sess.clone()));
    s.delete_session("h1").await.unwrap();
    assert!(s.get_session("h1").await.unwrap().is_none());
    for (id, seen) in [("old", 5), ("new", 50)] {
        let mut x = sess.clone();
        x.id_hash = id.into();
        x.last_seen = seen;
        s.put_session(&x).await.unwrap();
    }
    s.prune_sessions(20).await.unwrap();
    assert!(s.get_session("old").await.unwrap().is_none());
    assert!(s.get_session("new").await.unwrap().is_some());
}

async fn codes_redeem_once(s: &dyn AuthStore) {
    let code = CodeRecord {
        hash: "code1".into(),
        grant: "g1".into(),
        client_id: "app".into(),
        redirect_uri: "https://app/cb".into(),
        code_challenge: "x".into(),
        user_id: "u1".into(),
        scope: "openid".into(),
        patient: Some("p1".into()),
        encounter: None,
        fhir_user: None,
        nonce: None,
        need_patient_banner: true,
        break_glass: false,
        session_hash: None,
        expires: 100,
    };
    s.put_code(&code).await.unwrap();
    assert_eq!(
        s.redeem_code("code1", 50).await.unwrap(),
        Redeemed::Fresh(code.clone())
    );
    assert_eq!(
        s.redeem_code("code1", 51).await.unwrap(),
        Redeemed::Reused(code.clone())
    );
    assert_eq!(s.redeem_code("other", 50).await.unwrap(), Redeemed::Unknown);
    let mut late = code.clone();
    late.hash = "code2".into();
    s.put_code(&late).await.unwrap();
    assert_eq!(
        s.redeem_code("code2", 101).await.unwrap(),
        Redeemed::Unknown
    );
}

async fn refresh_redeem_once(s: &dyn AuthStore) {
    let r = RefreshRecord {
        hash: "r1".into(),
        grant: "g1".into(),
        client_id: "app".into(),
        user_id: "u1".into(),
        scope: "offline_access".into(),
        patient: None,
        encounter: None,
        fhir_user: None,
        break_glass: false,
        expires: 100,
        session_hash: None,
    };
    s.put_refresh(&r).await.unwrap();
    assert_eq!(s.peek_refresh("r1", 5).await.unwrap(), Some(r.clone()));
    assert_eq!(s.peek_refresh("r1", 101).await.unwrap(), None, "expired");
    assert_eq!(
        s.redeem_refresh("r1", 5).await.unwrap(),
        Redeemed::Fresh(r.clone())
    );
    assert_eq!(
        s.redeem_refresh("r1", 6).await.unwrap(),
        Redeemed::Reused(r.clone())
    );
    assert_eq!(s.peek_refresh("r1", 5).await.unwrap(), None, "used");
    assert_eq!(
        s.redeem_refresh("r1", 200).await.unwrap(),
        Redeemed::Reused(r.clone()),
        "reuse is detected even after expiry"
    );
    let mut old = r.clone();
    old.hash = "r2".into();
    s.put_refresh(&old).await.unwrap();
    assert_eq!(
        s.redeem_refresh("r2", 101).await.unwrap(),
        Redeemed::Unknown
    );
    assert_eq!(s.redeem_refresh("zz", 5).await.unwrap(), Redeemed::Unknown);
}

async fn revocation_and_replay(s: &dyn AuthStore) {
    assert!(!s.any_revoked(&["j1", "g9"], 10).await.unwrap());
    s.revoke("g9", 100).await.unwrap();
    assert!(s.any_revoked(&["j1", "g9"], 10).await.unwrap());
    assert!(!s.any_revoked(&["j1"], 10).await.unwrap());
    assert!(
        !s.any_revoked(&["g9"], 101).await.unwrap(),
        "entries expire"
    );
    assert!(s.remember_once("client/jti-1", 100, 10).await.unwrap());
    assert!(!s.remember_once("client/jti-1", 100, 11).await.unwrap());
    assert!(s.remember_once("client/jti-2", 100, 11).await.unwrap());
    assert!(
        s.remember_once("client/jti-1", 300, 200).await.unwrap(),
        "expired entries are forgotten"
    );
}

async fn failures(s: &dyn AuthStore) {
    for t in [10, 20, 30] {
        s.add_failure("user:alice", t).await.unwrap();
    }
    s.add_failure("ip:127.0.0.1", 30).await.unwrap();
    assert_eq!(s.count_failures("user:alice", 0).await.unwrap(), 3);
    assert_eq!(s.count_failures("user:alice", 15).await.unwrap(), 2);
    s.clear_failures("user:alice").await.unwrap();
    assert_eq!(s.count_failures("user:alice", 0).await.unwrap(), 0);
    assert_eq!(s.count_failures("ip:127.0.0.1", 0).await.unwrap(), 1);
}

async fn launch_and_break_glass(s: &dyn AuthStore) {
    let l = LaunchRecord {
        id: "l1".into(),
        patient: Some("p1".into()),
        encounter: Some("e1".into()),
        expires: 100,
    };
    s.put_launch(&l).await.unwrap();
    assert_eq!(s.get_launch("l1", 50).await.unwrap(), Some(l));
    assert!(s.get_launch("l1", 101).await.unwrap().is_none());
    let mut g = BreakGlassRecord {
        id: "b1".into(),
        user_id: "u1".into(),
        username: "alice".into(),
        reason: "cardiac arrest".into(),
        opened: 10,
        expires: 3610,
        reviewed_by: None,
        reviewed_at: None,
        review_note: None,
    };
    s.put_break_glass(&g).await.unwrap();
    let mut g2 = g.clone();
    g2.id = "b2".into();
    g2.opened = 20;
    s.put_break_glass(&g2).await.unwrap();
    let pending = s.list_break_glass(true).await.unwrap();
    assert_eq!(
        pending.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        ["b2", "b1"]
    );
    g.reviewed_by = Some("admin".into());
    g.reviewed_at = Some(50);
    s.put_break_glass(&g).await.unwrap();
    assert_eq!(s.list_break_glass(true).await.unwrap().len(), 1);
    assert_eq!(s.list_break_glass(false).await.unwrap().len(), 2);
    assert_eq!(s.get_break_glass("b1").await.unwrap(), Some(g));
}
