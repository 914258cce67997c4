//! `ward user add`, `ward client add`, `ward launch create` and `ward break-glass list|review`:
//! the admin operations, run locally against the data directory (the server may be running).
//! Each change is recorded in the audit trail (ClientChanged, UserChanged, LaunchCreated,
//! BreakGlassReviewed), success or failure, and so is the break-glass list read
//! (AdminListRead); a step that cannot be recorded is reported as an error.

use std::io::BufRead;
use std::sync::Arc;

use ward_audit::{Outcome, SecurityEvent};
use ward_auth::oauth::{AuthServer, AuthSettings, JwksCache, NewClient, NewUser, OAuthError};
use ward_core::FhirService;
use ward_crypto::SecretBytes;
use ward_store::AuthStore;

use crate::cli::{
    BreakGlassListArgs, BreakGlassReviewArgs, ClientAddArgs, CommonArgs, LaunchCreateArgs,
    UserAddArgs,
};
use crate::config;
use crate::datadir::{self, PUBLIC_URL_META, StartupError};

fn err(m: impl Into<String>) -> StartupError {
    StartupError::Message(m.into())
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The authorization server over the data directory, and its audit trail.
struct Opened {
    auth: AuthServer,
    trail: FhirService,
}

async fn open(common: &CommonArgs, key: Option<SecretBytes>) -> Result<Opened, StartupError> {
    let file = config::read_file(common).map_err(|e| err(e.to_string()))?;
    let data_dir = config::data_dir(common, &file);
    let key_file = file
        .keys
        .master_key_file
        .clone()
        .unwrap_or_else(|| config::default_key_file(&data_dir));
    let auth_cfg = config::resolve_auth(file.auth).map_err(|e| err(e.to_string()))?;
    let storage = config::resolve_storage(common, &file.storage).map_err(|e| err(e.to_string()))?;
    let audit = crate::audit_config::resolve_audit(file.audit).map_err(|e| err(e.to_string()))?;
    let master = datadir::master_key(key, &key_file, false)?;
    let cursor = master
        .derive("ward/cursor-mac/v1")
        .map_err(|e| err(e.to_string()))?;
    let backend =
        datadir::open_store(&data_dir, &storage, master, datadir::Opening::Command).await?;
    let store = backend.store.clone();
    let keys = datadir::signing_keys(store.as_ref(), now()).await?;
    let public = store
        .get_meta(PUBLIC_URL_META)
        .await
        .map_err(|e| err(e.to_string()))?
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| "https://localhost:8443".into());
    let auth_store: Arc<dyn AuthStore> = backend.auth.clone();
    let settings: AuthSettings = auth_cfg.settings(&public);
    let jwks = JwksCache::with_default_client().map_err(err)?;
    let auth = AuthServer::new(auth_store, backend.ring, &keys, settings, jwks)
        .map_err(|e| err(e.to_string()))?;
    let trail = crate::audit_cmd::trail(store, &public, audit.settings, &cursor);
    Ok(Opened { auth, trail })
}

/// Records the result of an admin change as `event` — what changed, or the OAuth error code —
/// and then hands the result on.
async fn audited<T>(
    trail: &FhirService,
    event: SecurityEvent,
    result: Result<T, OAuthError>,
    describe: impl FnOnce(&T) -> String,
) -> Result<T, StartupError> {
    audited_about(trail, event, result, |v| {
        (describe(v), Vec::new(), Vec::new())
    })
    .await
}

/// [`audited`], with the patients (ids) and other resources (references) a success concerns.
async fn audited_about<T>(
    trail: &FhirService,
    event: SecurityEvent,
    result: Result<T, OAuthError>,
    describe: impl FnOnce(&T) -> (String, Vec<String>, Vec<String>),
) -> Result<T, StartupError> {
    let (outcome, desc, patients, entities) = match &result {
        Ok(v) => {
            let (d, p, e) = describe(v);
            (Outcome::Success, d, p, e)
        }
        Err(e) => (
            Outcome::from_status(e.status),
            e.error.to_owned(),
            Vec::new(),
            Vec::new(),
        ),
    };
    let mut rec = crate::audit_cmd::operator_record(trail, event, outcome, Some(desc), patients);
    rec.entities = entities;
    if event == SecurityEvent::BreakGlassReviewed {
        rec.purpose_of_use = vec!["BTG".into()];
    }
    trail
        .audit_security(rec)
        .await
        .map_err(|e| err(format!("cannot record the change in the audit trail: {e}")))?;
    result.map_err(|e| err(e.description))
}

/// `ward user add` (password from stdin).
#[allow(clippy::print_stdout)]
pub async fn user_add(a: &UserAddArgs, key: Option<SecretBytes>) -> Result<(), StartupError> {
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .map_err(|_| err("cannot read the password from standard input"))?;
    let password = password.trim_end_matches(['\n', '\r']).to_owned();
    let o = open(&a.common, key).await?;
    let u = NewUser {
        username: a.username.clone(),
        role: a.role.clone(),
        password,
        fhir_user: a.fhir_user.clone(),
        patient: a.patient.clone(),
        break_glass: a.break_glass,
    };
    let added = o.auth.add_user(u, now()).await;
    let rec = audited(&o.trail, SecurityEvent::UserChanged, added, |u| {
        format!("user {} ({}) added", u.username, u.role)
    })
    .await?;
    println!(
        "user {} ({}) added with id {}",
        rec.username, rec.role, rec.id
    );
    if matches!(rec.role.as_str(), "admin" | "auditor") {
        println!("this role needs TOTP: the first login shows the enrollment page");
    }
    Ok(())
}

/// `ward client add`.
#[allow(clippy::print_stdout)]
pub async fn client_add(a: &ClientAddArgs, key: Option<SecretBytes>) -> Result<(), StartupError> {
    let jwks = match &a.jwks {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| err(format!("cannot read {}: {}", p.display(), e.kind())))?,
        ),
        None => None,
    };
    let o = open(&a.common, key).await?;
    let c = NewClient {
        id: a.id.clone(),
        kind: a.kind.clone(),
        scope: a.scope.clone(),
        redirect_uris: a.redirect_uris.clone(),
        jwks,
        jwks_url: a.jwks_url.clone(),
    };
    let added = o.auth.add_client(c, now()).await;
    let reg = audited(&o.trail, SecurityEvent::ClientChanged, added, |r| {
        format!("client {} ({}) added", r.record.id, r.record.kind)
    })
    .await?;
    println!("client {} ({}) registered", reg.record.id, reg.record.kind);
    if let Some(s) = reg.secret {
        println!("client_secret: {s}");
        println!("(shown once; only its hash is stored)");
    }
    Ok(())
}

/// `ward launch create`: prints the launch id once the launch is recorded (its lifetime,
/// patient and encounter; never the id).
#[allow(clippy::print_stdout)]
pub async fn launch_create(
    a: &LaunchCreateArgs,
    key: Option<SecretBytes>,
) -> Result<(), StartupError> {
    let o = open(&a.common, key).await?;
    let at = now();
    let created = o
        .auth
        .create_launch(a.patient.clone(), a.encounter.clone(), at)
        .await;
    let l = audited_about(&o.trail, SecurityEvent::LaunchCreated, created, |l| {
        ward_audit::describe::launch_created(
            l.expires - at,
            l.patient.as_deref(),
            l.encounter.as_deref(),
        )
    })
    .await?;
    println!("{}", l.id);
    Ok(())
}

/// `ward break-glass list`.
#[allow(clippy::print_stdout)]
pub async fn break_glass_list(
    a: &BreakGlassListArgs,
    key: Option<SecretBytes>,
) -> Result<(), StartupError> {
    let o = open(&a.common, key).await?;
    let listed = o
        .auth
        .store()
        .list_break_glass(!a.all)
        .await
        .map_err(OAuthError::from);
    let what = ward_audit::describe::break_glass_list(a.all);
    let gs = audited(&o.trail, SecurityEvent::AdminListRead, listed, |gs| {
        ward_audit::describe::listed(what, gs.len())
    })
    .await?;
    for g in gs {
        println!("{}", serde_json::to_string(&g).unwrap_or_default());
    }
    Ok(())
}

/// `ward break-glass review`.
#[allow(clippy::print_stdout)]
pub async fn break_glass_review(
    a: &BreakGlassReviewArgs,
    key: Option<SecretBytes>,
) -> Result<(), StartupError> {
    let o = open(&a.common, key).await?;
    let reviewed = o
        .auth
        .review_break_glass(&a.id, &a.reviewer, a.note.clone(), now())
        .await;
    let g = audited(&o.trail, SecurityEvent::BreakGlassReviewed, reviewed, |g| {
        format!("grant {} reviewed by {}", g.id, a.reviewer)
    })
    .await?;
    println!("break-glass grant {} reviewed by {}", g.id, a.reviewer);
    Ok(())
}
