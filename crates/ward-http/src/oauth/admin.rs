//! The admin API under `/auth/admin/`: the same operations as the `ward client add`,
//! `ward user add`, `ward launch create` and break-glass review commands. It needs a bearer
//! token of an operator (`ward token issue`) or of a user with the admin role (who logged in
//! with MFA, which the role requires) holding the `ward:admin` scope, which only clients
//! registered for it can obtain. Every change, launch and list read is recorded; an answer
//! whose record cannot be written is 503, with nothing in it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use ward_audit::SecurityEvent;
use ward_auth::oauth::{NewClient, NewUser, OAuthError};
use ward_auth::{Principal, PrincipalKind};
use ward_store::auth::{BreakGlassRecord, ClientRecord, LaunchRecord, UserRecord};

use super::audit::{self, Caller, Event, Reply};
use super::web::oauth_error;
use crate::AppState;

fn is_admin(p: &Principal) -> bool {
    p.kind == PrincipalKind::Operator
        || (p.kind == PrincipalKind::User
            && p.role.as_deref() == Some("admin")
            && p.scopes.has(ward_auth::oauth::policy::ADMIN_SCOPE))
}

/// The operator or admin calling; anyone else is refused, and the refusal recorded.
async fn admin(
    app: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
) -> Result<Principal, Response> {
    let token = crate::auth::bearer(headers);
    let mut p = match token {
        Some(t) => app.authn.authenticate(t, (app.now)()).await.ok(),
        None => None,
    };
    if let Some(ok) = p.take_if(|p| is_admin(p)) {
        return Ok(ok);
    }
    let invalid = |description: &str| OAuthError {
        error: "invalid_token",
        description: description.into(),
        status: 401,
    };
    let e = match (&p, token) {
        (Some(_), _) => OAuthError::access_denied("the admin API needs an operator or admin token"),
        (None, None) => invalid("a bearer token is required"),
        (None, Some(_)) => invalid("the token is not valid"),
    };
    let actor = p.as_ref().map(audit::of_principal).unwrap_or_default();
    let ev = Event::failed(SecurityEvent::RequestRejected, actor, &e);
    Err(audit::guard(app, caller, ev, Reply::Json, oauth_error(&e)).await)
}

fn body_json<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Option<T> {
    serde_json::from_slice(body).ok()
}

fn bad_json() -> OAuthError {
    OAuthError::invalid_request("the body is not the expected JSON")
}

fn client_json(c: &ClientRecord) -> Value {
    json!({
        "client_id": c.id, "kind": c.kind, "scope": c.scope, "redirect_uris": c.redirect_uris,
        "jwks_url": c.jwks_url, "has_jwks": c.jwks.is_some(),
        "has_secret": c.secret_hash.is_some(), "disabled": c.disabled
    })
}

fn user_json(u: &UserRecord) -> Value {
    json!({
        "id": u.id, "username": u.username, "role": u.role, "fhirUser": u.fhir_user,
        "patient": u.patient, "mfa": u.totp_confirmed, "break_glass": u.break_glass,
        "disabled": u.disabled
    })
}

/// The JSON form of a break-glass grant.
pub(crate) fn break_glass_json(g: &BreakGlassRecord) -> Value {
    json!({
        "id": g.id, "user": g.username, "reason": g.reason, "opened": g.opened,
        "expires": g.expires, "reviewed_by": g.reviewed_by, "reviewed_at": g.reviewed_at,
        "review_note": g.review_note
    })
}

#[derive(Deserialize)]
struct ClientBody {
    client_id: String,
    kind: String,
    scope: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    jwks: Option<Value>,
    jwks_url: Option<String>,
}

/// `POST /auth/admin/clients`.
pub(crate) async fn add_client(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match admin(&app, &caller, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let added = match body_json::<ClientBody>(&body) {
        Some(b) => {
            let c = NewClient {
                id: b.client_id,
                kind: b.kind,
                scope: b.scope,
                redirect_uris: b.redirect_uris,
                jwks: b.jwks.map(|v| v.to_string()),
                jwks_url: b.jwks_url,
            };
            app.auth.add_client(c, (app.now)()).await
        }
        None => Err(bad_json()),
    };
    let ev = Event::result(
        SecurityEvent::ClientChanged,
        audit::of_principal(&p),
        &added,
        |r| format!("client {} ({}) added", r.record.id, r.record.kind),
    );
    let resp = match added {
        Ok(reg) => {
            let mut v = client_json(&reg.record);
            if let (Some(s), Some(m)) = (reg.secret, v.as_object_mut()) {
                m.insert("client_secret".into(), json!(s));
            }
            (StatusCode::CREATED, Json(v)).into_response()
        }
        Err(e) => oauth_error(&e),
    };
    audit::guard(&app, &caller, ev, Reply::Json, resp).await
}

/// Answers a list read once it is recorded (`admin-list-read`: what was listed and how many,
/// the patients linked to listed users), or its failure.
async fn listed<T>(
    app: &AppState,
    caller: &Caller,
    p: &Principal,
    what: &str,
    rows: Result<Vec<T>, ward_store::StoreError>,
    row: impl Fn(&T) -> Value,
    patient: impl Fn(&T) -> Option<String>,
) -> Response {
    let rows = rows.map_err(OAuthError::from);
    let kind = SecurityEvent::AdminListRead;
    let ev = Event::result(kind, audit::of_principal(p), &rows, |rs| {
        ward_audit::describe::listed(what, rs.len())
    });
    let (ev, resp) = match rows {
        Ok(rs) => {
            let patients = rs.iter().filter_map(&patient).collect();
            let body = Json(json!(rs.iter().map(row).collect::<Vec<_>>())).into_response();
            (ev.about(patients, Vec::new()), body)
        }
        Err(e) => (ev, oauth_error(&e)),
    };
    audit::guard(app, caller, ev, Reply::Json, resp).await
}

/// `GET /auth/admin/clients`.
pub(crate) async fn list_clients(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    let p = match admin(&app, &caller, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let rows = app.auth.store().list_clients().await;
    listed(&app, &caller, &p, "clients", rows, client_json, |_| None).await
}

#[derive(Deserialize)]
struct UserBody {
    username: String,
    role: String,
    password: String,
    #[serde(rename = "fhirUser")]
    fhir_user: Option<String>,
    patient: Option<String>,
    #[serde(default)]
    break_glass: bool,
}

/// `POST /auth/admin/users`.
pub(crate) async fn add_user(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match admin(&app, &caller, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let added = match body_json::<UserBody>(&body) {
        Some(b) => {
            let u = NewUser {
                username: b.username,
                role: b.role,
                password: b.password,
                fhir_user: b.fhir_user,
                patient: b.patient,
                break_glass: b.break_glass,
            };
            app.auth.add_user(u, (app.now)()).await
        }
        None => Err(bad_json()),
    };
    let ev = Event::result(
        SecurityEvent::UserChanged,
        audit::of_principal(&p),
        &added,
        |u| format!("user {} ({}) added", u.username, u.role),
    );
    let resp = match added {
        Ok(rec) => (StatusCode::CREATED, Json(user_json(&rec))).into_response(),
        Err(e) => oauth_error(&e),
    };
    audit::guard(&app, &caller, ev, Reply::Json, resp).await
}

/// `GET /auth/admin/users`.
pub(crate) async fn list_users(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    let p = match admin(&app, &caller, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let rows = app.auth.store().list_users().await;
    let patient = |u: &UserRecord| u.patient.clone();
    listed(&app, &caller, &p, "users", rows, user_json, patient).await
}

#[derive(Deserialize)]
struct LaunchBody {
    patient: Option<String>,
    encounter: Option<String>,
}

/// The record of a created launch: its lifetime and the patient and encounter in its context
/// (as entities), never the launch id (which opens that context to an app).
fn launch_event(ev: Event, l: &LaunchRecord, now: i64) -> Event {
    let (desc, patients, entities) = ward_audit::describe::launch_created(
        l.expires - now,
        l.patient.as_deref(),
        l.encounter.as_deref(),
    );
    ev.desc(desc).about(patients, entities)
}

/// `POST /auth/admin/launches`.
pub(crate) async fn create_launch(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match admin(&app, &caller, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let now = (app.now)();
    let created = match body_json::<LaunchBody>(&body) {
        Some(b) => app.auth.create_launch(b.patient, b.encounter, now).await,
        None => Err(bad_json()),
    };
    let kind = SecurityEvent::LaunchCreated;
    let (ev, resp) = match created {
        Ok(l) => {
            let body = json!({"launch": l.id, "patient": l.patient, "encounter": l.encounter,
                "expires": l.expires});
            let ev = launch_event(Event::ok(kind, audit::of_principal(&p)), &l, now);
            (ev, (StatusCode::CREATED, Json(body)).into_response())
        }
        Err(e) => (
            Event::failed(kind, audit::of_principal(&p), &e),
            oauth_error(&e),
        ),
    };
    audit::guard(&app, &caller, ev, Reply::Json, resp).await
}

#[derive(Deserialize)]
pub(crate) struct PendingQuery {
    #[serde(default)]
    all: bool,
}

/// `GET /auth/admin/break-glass[?all=true]`: the review queue (unreviewed grants by default).
pub(crate) async fn list_break_glass(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let p = match admin(&app, &caller, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    // (parsed after the caller is known, and answered like every other admin error)
    let Ok(q) = serde_urlencoded::from_str::<PendingQuery>(raw.as_deref().unwrap_or("")) else {
        return oauth_error(&OAuthError::invalid_request(
            "the query is malformed (all=true or all=false)",
        ));
    };
    let rows = app.auth.store().list_break_glass(!q.all).await;
    let what = ward_audit::describe::break_glass_list(q.all);
    listed(&app, &caller, &p, what, rows, break_glass_json, |_| None).await
}

#[derive(Deserialize, Default)]
struct ReviewBody {
    note: Option<String>,
}

/// `POST /auth/admin/break-glass/{id}/review` (recorded with purposeOfUse BTG; the note is not
/// copied into the record).
pub(crate) async fn review_break_glass(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let p = match admin(&app, &caller, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let b: Option<ReviewBody> = if body.is_empty() {
        Some(ReviewBody::default())
    } else {
        body_json(&body)
    };
    let reviewed = match b {
        Some(b) => {
            app.auth
                .review_break_glass(&id, &p.subject, b.note, (app.now)())
                .await
        }
        None => Err(bad_json()),
    };
    let kind = SecurityEvent::BreakGlassReviewed;
    let ev = Event::result(kind, audit::of_principal(&p), &reviewed, |g| {
        format!("grant {} reviewed", g.id)
    });
    let resp = match reviewed {
        Ok(g) => Json(break_glass_json(&g)).into_response(),
        Err(e) => oauth_error(&e),
    };
    audit::guard(&app, &caller, ev.btg(), Reply::Json, resp).await
}
