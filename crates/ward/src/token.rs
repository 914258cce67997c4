//! `ward token issue`: an operator access token, signed locally with the server's own key,
//! for the public URL the server last ran under. Its issue is recorded in the audit trail
//! (TokenIssued) before it is printed.

use ward_audit::{Outcome, SecurityEvent};
use ward_auth::{PrincipalKind, ScopeSet, TokenIssuer};
use ward_crypto::SecretBytes;

use crate::cli::TokenIssueArgs;
use crate::config;
use crate::datadir::{self, PUBLIC_URL_META, StartupError};

/// Prints a token.
#[allow(clippy::print_stdout)]
pub async fn issue(
    args: &TokenIssueArgs,
    inline_key: Option<SecretBytes>,
) -> Result<(), StartupError> {
    let err = |m: String| StartupError::Message(m);
    let file = config::read_file(&args.common).map_err(|e| err(e.to_string()))?;
    let data_dir = config::data_dir(&args.common, &file);
    let key_file = file
        .keys
        .master_key_file
        .clone()
        .unwrap_or_else(|| config::default_key_file(&data_dir));
    if !(1..=86_400 * 366).contains(&args.ttl) {
        return Err(err("--ttl must be between 1 second and 366 days".into()));
    }
    let scopes = ScopeSet::parse(&args.scope)
        .map_err(|_| err("--scope holds a malformed SMART scope".into()))?;
    if scopes.resource_scopes().is_empty() {
        return Err(err(
            "--scope must include at least one resource scope, e.g. 'system/*.cruds'".into(),
        ));
    }
    let storage =
        config::resolve_storage(&args.common, &file.storage).map_err(|e| err(e.to_string()))?;
    let audit = crate::audit_config::resolve_audit(file.audit).map_err(|e| err(e.to_string()))?;
    let master = datadir::master_key(inline_key, &key_file, false)?;
    let cursor = master
        .derive("ward/cursor-mac/v1")
        .map_err(|e| err(e.to_string()))?;
    let store = datadir::open_store(&data_dir, &storage, master, datadir::Opening::Command)
        .await?
        .store;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let keys = datadir::signing_keys(store.as_ref(), now).await?;
    let public = store
        .get_meta(PUBLIC_URL_META)
        .await
        .map_err(|e| err(e.to_string()))?
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            err("the server's public URL is unknown: start `ward serve` once first".into())
        })?;
    let issuer = TokenIssuer::new(&keys, &format!("{public}/auth"), &format!("{public}/fhir"))
        .map_err(|e| err(e.to_string()))?;
    let token = issuer
        .issue(
            &args.subject,
            PrincipalKind::Operator,
            &scopes,
            now,
            args.ttl,
        )
        .map_err(|e| err(e.to_string()))?;
    let trail = crate::audit_cmd::trail(store, &public, audit.settings, &cursor);
    let desc = format!(
        "operator token for {} ({}), {} s",
        args.subject,
        scopes.to_scope_string(),
        args.ttl
    );
    let rec = crate::audit_cmd::operator_record(
        &trail,
        SecurityEvent::TokenIssued,
        Outcome::Success,
        Some(desc),
        Vec::new(),
    );
    trail
        .audit_security(rec)
        .await
        .map_err(|e| err(format!("cannot record the token in the audit trail: {e}")))?;
    println!("{token}");
    Ok(())
}
