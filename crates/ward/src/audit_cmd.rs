//! `ward audit verify | disclosures | rotate-key`: run locally against the data directory (the
//! server may be running). Each is itself recorded in the audit trail.

use std::sync::Arc;

use ward_audit::{Action, Actor, AuditRecord, EventKind, Outcome, SecurityEvent};
use ward_core::{
    AuditKeys, AuditSettings, CoreConfig, CursorKey, FhirService, SystemClock, UuidIds,
};
use ward_crypto::SecretBytes;
use ward_store::Store;

use crate::cli::{AuditDisclosuresArgs, AuditRotateArgs, AuditVerifyArgs, CommonArgs};
use crate::config;
use crate::datadir::{self, PUBLIC_URL_META, StartupError};

fn err(m: impl Into<String>) -> StartupError {
    StartupError::Message(m.into())
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

struct Opened {
    store: Arc<dyn Store>,
    fhir: FhirService,
    audit: crate::audit_config::AuditConfig,
}

async fn open(common: &CommonArgs, key: Option<SecretBytes>) -> Result<Opened, StartupError> {
    let file = config::read_file(common).map_err(|e| err(e.to_string()))?;
    let data_dir = config::data_dir(common, &file);
    let key_file = file
        .keys
        .master_key_file
        .clone()
        .unwrap_or_else(|| config::default_key_file(&data_dir));
    let storage = config::resolve_storage(common, &file.storage).map_err(|e| err(e.to_string()))?;
    let audit = crate::audit_config::resolve_audit(file.audit).map_err(|e| err(e.to_string()))?;
    let master = datadir::master_key(key, &key_file, false)?;
    let cursor = master
        .derive("ward/cursor-mac/v1")
        .map_err(|e| err(e.to_string()))?;
    let store: Arc<dyn Store> = datadir::open_store(&data_dir, &storage, master, true)
        .await?
        .store;
    let public = store
        .get_meta(PUBLIC_URL_META)
        .await
        .map_err(|e| err(e.to_string()))?
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| "https://localhost:8443".into());
    let fhir = trail(store.clone(), &public, audit.settings.clone(), &cursor);
    Ok(Opened { store, fhir, audit })
}

/// The FHIR service of a command, for writing its records into the data directory's trail.
pub(crate) fn trail(
    store: Arc<dyn Store>,
    public: &str,
    settings: AuditSettings,
    cursor: &SecretBytes,
) -> FhirService {
    FhirService::new(
        store,
        Arc::new(SystemClock),
        Arc::new(UuidIds),
        CoreConfig::new(format!("{public}/fhir")),
        CursorKey::new(cursor),
    )
    .with_audit(settings)
}

/// A security event done at the console by the operator (`cli:$USER`).
pub(crate) fn operator_record(
    fhir: &FhirService,
    event: SecurityEvent,
    outcome: Outcome,
    desc: Option<String>,
    patients: Vec<String>,
) -> AuditRecord {
    let user = std::env::var("USER").ok();
    AuditRecord {
        kind: EventKind::Security(event),
        action: Action::Execute,
        outcome,
        outcome_desc: desc,
        recorded: fhir.now_instant(),
        actor: Actor {
            subject: Some(format!("cli:{}", user.unwrap_or_else(|| "operator".into()))),
            ..Actor::default()
        },
        purpose_of_use: Vec::new(),
        request_id: uuid::Uuid::new_v4().to_string(),
        entities: Vec::new(),
        patients,
        query: None,
        server: fhir.config().base_url.clone(),
    }
}

/// `ward audit verify`.
#[allow(clippy::print_stdout)]
pub async fn verify(a: &AuditVerifyArgs, key: Option<SecretBytes>) -> Result<(), StartupError> {
    let o = open(&a.common, key).await?;
    let external = a
        .checkpoints
        .clone()
        .or(o.audit.settings.checkpoint_file.clone());
    let found = ward_core::verify_trail(o.store.as_ref(), external.as_deref(), now())
        .await
        .map_err(|e| err(format!("cannot read the audit trail: {e}")))?;
    let (outcome, desc) = match &found {
        Ok(_) => (Outcome::Success, None),
        Err(e) => (
            Outcome::SeriousFailure,
            e.first_bad_seq().map(|s| format!("first bad seq {s}")),
        ),
    };
    let rec = operator_record(
        &o.fhir,
        SecurityEvent::AuditVerify,
        outcome,
        desc,
        Vec::new(),
    );
    o.fhir
        .audit_security(rec)
        .await
        .map_err(|e| err(format!("cannot record the verification: {e}")))?;
    match found {
        Ok(r) => {
            println!(
                "audit trail OK: {} records, {} signed checkpoints",
                r.records, r.checkpoints
            );
            Ok(())
        }
        Err(e) => {
            let seq = e
                .first_bad_seq()
                .map_or_else(|| "?".into(), |s| s.to_string());
            Err(err(format!(
                "audit trail verification FAILED at seq {seq}: {e}"
            )))
        }
    }
}

/// `ward audit disclosures`.
#[allow(clippy::print_stdout)]
pub async fn disclosures(
    a: &AuditDisclosuresArgs,
    key: Option<SecretBytes>,
) -> Result<(), StartupError> {
    if !ward_core::valid_id(&a.patient) {
        return Err(err("--patient must be a FHIR id"));
    }
    let o = open(&a.common, key).await?;
    let list = o
        .fhir
        .disclosures(&a.patient, a.start.as_deref(), a.end.as_deref())
        .await
        .map_err(|e| err(e.to_string()))?;
    let rec = operator_record(
        &o.fhir,
        SecurityEvent::AuditExport,
        Outcome::Success,
        None,
        vec![a.patient.clone()],
    );
    o.fhir
        .audit_security(rec)
        .await
        .map_err(|e| err(format!("cannot record the export: {e}")))?;
    match a.format.as_str() {
        "json" => {
            let rows: Vec<serde_json::Value> = list
                .iter()
                .map(|d| serde_json::json!({"date": d.date, "who": d.who, "app": d.app, "what": d.what, "action": d.action, "purpose": d.purpose, "auditEvent": d.audit_event}))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&rows).map_err(|e| err(e.to_string()))?
            );
        }
        "csv" => {
            println!("date,who,app,what,action,purpose,audit_event");
            for d in &list {
                let cells = [
                    d.date.clone(),
                    d.who.clone(),
                    d.app.clone(),
                    d.what.join(" "),
                    d.action.clone(),
                    d.purpose.clone(),
                    d.audit_event.clone(),
                ];
                let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
                println!("{}", line.join(","));
            }
        }
        _ => return Err(err("--format must be json or csv")),
    }
    Ok(())
}

/// Quotes a CSV cell (RFC 4180), and defuses spreadsheet formulas.
fn csv_cell(c: &str) -> String {
    let c = if c.starts_with(['=', '+', '-', '@']) {
        format!("'{c}")
    } else {
        c.to_owned()
    };
    if c.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", c.replace('"', "\"\""))
    } else {
        c
    }
}

/// `ward audit rotate-key`.
#[allow(clippy::print_stdout)]
pub async fn rotate_key(a: &AuditRotateArgs, key: Option<SecretBytes>) -> Result<(), StartupError> {
    let o = open(&a.common, key).await?;
    let keys = AuditKeys::rotate(o.store.as_ref(), now())
        .await
        .map_err(|e| err(e.to_string()))?;
    let rec = operator_record(
        &o.fhir,
        SecurityEvent::KeyRotation,
        Outcome::Success,
        Some("audit signing key".into()),
        Vec::new(),
    );
    o.fhir
        .audit_security(rec)
        .await
        .map_err(|e| err(format!("cannot record the rotation: {e}")))?;
    let id = keys.current().map(|k| k.key_id()).unwrap_or_default();
    println!("new audit signing key {id}; a running server picks it up at its next restart");
    Ok(())
}

/// `ward keys rotate`: a new access-token signing key (audited as a key rotation).
#[allow(clippy::print_stdout)]
pub async fn rotate_signing_key(
    a: &crate::cli::KeysRotateArgs,
    key: Option<SecretBytes>,
) -> Result<(), StartupError> {
    let o = open(&a.common, key).await?;
    let keys = ward_auth::SigningKeys::rotate(o.store.as_ref(), now())
        .await
        .map_err(|e| err(e.to_string()))?;
    let rec = operator_record(
        &o.fhir,
        SecurityEvent::KeyRotation,
        Outcome::Success,
        Some("token signing key".into()),
        Vec::new(),
    );
    o.fhir
        .audit_security(rec)
        .await
        .map_err(|e| err(format!("cannot record the rotation: {e}")))?;
    let kid = keys
        .current()
        .map(|k| k.public().kid.clone())
        .unwrap_or_default();
    println!(
        "new token signing key {kid}; the previous key keeps verifying; a running server \
         picks the new one up at its next restart"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(csv_cell("=cmd()"), "'=cmd()");
        assert_eq!(csv_cell("plain"), "plain");
    }
}
