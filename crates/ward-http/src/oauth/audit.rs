//! Security AuditEvents of the authorization server (authorization requests, consent, logins,
//! MFA and its enrollment, lockout, logout and automatic logoff, tokens, break-glass, client,
//! user and launch changes, admin list reads), made durable through
//! [`ward_core::FhirService::audit_security`] before the answer leaves. When a record cannot be
//! written the caller gets 503 and no token, cookie or result. Records never hold passwords,
//! codes, tokens, secrets or free text a user typed (reasons, notes).

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;
use ward_audit::{Action, Actor, AuditRecord, EventKind, Outcome, SecurityEvent};
use ward_auth::Principal;
use ward_auth::oauth::{LoginOutcome, OAuthError};
use ward_store::auth::UserRecord;

use super::web::{SourceAddr, oauth_error};
use crate::AppState;
use crate::layers::RequestId;

/// Longest caller-supplied text (user name, client id, user agent) a record keeps.
const MAX_TEXT: usize = 256;

pub(crate) fn clip(s: &str) -> String {
    s.chars().take(MAX_TEXT).collect()
}

/// Who is calling, as far as the network tells: address, user agent and request id.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The source address ("unknown" when not served over a socket), also the lockout key.
    pub addr: String,
    user_agent: Option<String>,
    request_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let SourceAddr(addr) = SourceAddr::from_request_parts(parts, state).await?;
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(clip);
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), |r| r.0.clone());
        Ok(Self {
            addr,
            user_agent,
            request_id,
        })
    }
}

/// The actor of a verified token: subject, fhirUser, client and role.
pub(crate) fn of_principal(p: &Principal) -> Actor {
    Actor {
        subject: Some(p.subject.clone()),
        fhir_user: p.fhir_user.clone(),
        client_id: p.client_id.clone(),
        roles: p.role.clone().into_iter().collect(),
        ..Actor::default()
    }
}

/// The actor of a known user (by user name), signing in to `client`.
pub(crate) fn of_user(u: &UserRecord, client: Option<&str>) -> Actor {
    Actor {
        subject: Some(u.username.clone()),
        fhir_user: u.fhir_user.clone(),
        client_id: client.map(clip),
        roles: vec![u.role.clone()],
        ..Actor::default()
    }
}

/// An actor known only by what the caller claims: a typed user name, a presented client id.
pub(crate) fn claimed(subject: Option<&str>, client: Option<&str>) -> Actor {
    Actor {
        subject: subject.filter(|s| !s.is_empty()).map(clip),
        client_id: client.filter(|c| !c.is_empty()).map(clip),
        ..Actor::default()
    }
}

/// One security event, before the caller's network details are added.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    kind: SecurityEvent,
    outcome: Outcome,
    /// What changed (success) or the OAuth error code (failure); never a secret or PHI.
    desc: Option<String>,
    actor: Actor,
    purpose: Vec<String>,
    /// Ids of the patients concerned, and references of other resources concerned.
    patients: Vec<String>,
    entities: Vec<String>,
}

impl Event {
    pub(crate) fn ok(kind: SecurityEvent, actor: Actor) -> Self {
        Self {
            kind,
            outcome: Outcome::Success,
            desc: None,
            actor,
            purpose: Vec::new(),
            patients: Vec::new(),
            entities: Vec::new(),
        }
    }

    /// A failure with a fixed description.
    pub(crate) fn refused(kind: SecurityEvent, actor: Actor, desc: &str) -> Self {
        Self {
            outcome: Outcome::MinorFailure,
            desc: Some(desc.to_owned()),
            ..Self::ok(kind, actor)
        }
    }

    /// A failure answered with `e`: its status gives the outcome, its code the description.
    pub(crate) fn failed(kind: SecurityEvent, actor: Actor, e: &OAuthError) -> Self {
        Self {
            outcome: Outcome::from_status(e.status),
            desc: Some(e.error.to_owned()),
            ..Self::ok(kind, actor)
        }
    }

    /// A failure answered with `e`, described by its code and its description — only for
    /// errors whose descriptions are fixed phrases (never caller input), as the authorization
    /// request's are.
    pub(crate) fn failed_because(kind: SecurityEvent, actor: Actor, e: &OAuthError) -> Self {
        Self {
            desc: Some(clip(&format!("{}: {}", e.error, e.description))),
            ..Self::failed(kind, actor, e)
        }
    }

    /// A token holder's event, with the token's purpose of use (BTG under break-glass).
    pub(crate) fn by(kind: SecurityEvent, p: &Principal) -> Self {
        Self {
            purpose: p.purpose_of_use.clone().into_iter().collect(),
            ..Self::ok(kind, of_principal(p))
        }
    }

    /// Success (described by `describe`) or failure, from a result.
    pub(crate) fn result<T>(
        kind: SecurityEvent,
        actor: Actor,
        r: &Result<T, OAuthError>,
        describe: impl FnOnce(&T) -> String,
    ) -> Self {
        match r {
            Ok(v) => Self::ok(kind, actor).desc(describe(v)),
            Err(e) => Self::failed(kind, actor, e),
        }
    }

    pub(crate) fn desc(mut self, d: String) -> Self {
        self.desc = Some(d);
        self
    }

    /// Names the patients (ids) and other resources (references) the event concerns.
    pub(crate) fn about(mut self, patients: Vec<String>, entities: Vec<String>) -> Self {
        self.patients = patients;
        self.entities = entities;
        self
    }

    /// Marks the event as break-glass emergency access (purposeOfUse BTG).
    pub(crate) fn btg(mut self) -> Self {
        self.purpose = vec!["BTG".into()];
        self
    }
}

/// The audit record could not be written; nothing may be handed out.
#[derive(Debug, thiserror::Error)]
#[error("the audit trail cannot be written")]
pub(crate) struct Unrecorded;

impl Unrecorded {
    /// 503 `temporarily_unavailable` as OAuth JSON, for the machine endpoints.
    pub(crate) fn json(&self) -> Response {
        oauth_error(&OAuthError {
            error: "temporarily_unavailable",
            description: "the audit trail cannot be written; retry later".into(),
            status: 503,
        })
    }

    /// The 503 message page, for the HTML pages.
    pub(crate) fn page(&self) -> Response {
        super::pages::message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Ward is unavailable",
            "This step could not be recorded in the audit trail, so it was not completed. Try again in a few minutes.",
            "",
        )
    }
}

/// Writes `ev` durably, with the caller's address, user agent and request id.
pub(crate) async fn record(app: &AppState, caller: &Caller, ev: Event) -> Result<(), Unrecorded> {
    let mut actor = ev.actor;
    actor.source_ip = (caller.addr != "unknown").then(|| caller.addr.clone());
    actor.user_agent = caller.user_agent.clone();
    let rec = AuditRecord {
        kind: EventKind::Security(ev.kind),
        action: Action::Execute,
        outcome: ev.outcome,
        outcome_desc: ev.desc,
        recorded: app.fhir.now_instant(),
        actor,
        purpose_of_use: ev.purpose,
        request_id: caller.request_id.clone(),
        entities: ev.entities,
        patients: ev.patients,
        query: None,
        server: app.fhir.config().base_url.clone(),
    };
    app.fhir.audit_security(rec).await.map_err(|e| {
        tracing::error!(code = e.code(), "security event not recorded; refusing");
        Unrecorded
    })
}

/// How a handler answers when the record cannot be written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reply {
    Json,
    Page,
}

/// `resp` once `ev` is recorded; otherwise 503 (and `resp`, with any token in it, is dropped).
pub(crate) async fn guard(
    app: &AppState,
    caller: &Caller,
    ev: Event,
    reply: Reply,
    resp: Response,
) -> Response {
    match (record(app, caller, ev).await, reply) {
        (Ok(()), _) => resp,
        (Err(u), Reply::Json) => u.json(),
        (Err(u), Reply::Page) => u.page(),
    }
}

/// A password or second-factor attempt to record.
pub(crate) struct Attempt<'a> {
    /// `LoginFailed` or `MfaFailed`, for a wrong secret.
    pub failed: SecurityEvent,
    pub outcome: &'a LoginOutcome,
    pub who: Actor,
    /// The user name the lockout is counted for.
    pub username: &'a str,
}

/// Records an attempt: `Login` once the session is fully signed in (no second factor due), the
/// failure for a wrong secret — and `Lockout` too when that failure engaged the lock — and
/// `Lockout` for an attempt refused while locked. A right password whose second factor is
/// still to come is `LoginPendingMfa`, so that one whose second factor never follows shows.
pub(crate) async fn attempt(
    app: &AppState,
    caller: &Caller,
    a: Attempt<'_>,
) -> Result<(), Unrecorded> {
    use SecurityEvent::Lockout;
    match a.outcome {
        LoginOutcome::Ok(v) if v.record.mfa_done => {
            record(app, caller, Event::ok(SecurityEvent::Login, a.who)).await
        }
        LoginOutcome::Ok(_) => {
            let ev = Event::ok(SecurityEvent::LoginPendingMfa, a.who)
                .desc("password accepted; second factor pending".into());
            record(app, caller, ev).await
        }
        LoginOutcome::Locked => {
            let ev = Event::refused(Lockout, a.who, "attempt refused while locked");
            record(app, caller, ev).await
        }
        LoginOutcome::Failed => {
            let ev = Event::refused(a.failed, a.who.clone(), "wrong credentials");
            record(app, caller, ev).await?;
            let now = (app.now)();
            if matches!(
                app.auth.login_locked(a.username, &caller.addr, now).await,
                Ok(true)
            ) {
                let ev = Event::refused(Lockout, a.who, "too many failed attempts; locked");
                record(app, caller, ev).await?;
            }
            Ok(())
        }
    }
}
