//! `ward audit verify | disclosures | rotate-key | archive | purge`: run locally against the data directory (the
//! server may be running). Each is itself recorded in the audit trail.

use std::sync::Arc;

use ward_audit::{Action, Actor, AuditRecord, EventKind, Outcome, SecurityEvent};
use ward_core::{
    AuditKeys, AuditSettings, CoreConfig, CursorKey, FhirService, SystemClock, UuidIds,
};
use ward_crypto::SecretBytes;
use ward_store::Store;

use crate::cli::{
    AuditArchiveArgs, AuditDisclosuresArgs, AuditPurgeArgs, AuditRotateArgs, AuditVerifyArgs,
    CommonArgs,
};
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
    archive_key: ward_crypto::DataKey,
}

async fn open(
    common: &CommonArgs,
    key: Option<SecretBytes>,
    opening: datadir::Opening,
) -> Result<Opened, StartupError> {
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
    let archive_key = ward_core::archive_key(&master).map_err(|e| err(e.to_string()))?;
    let store: Arc<dyn Store> = datadir::open_store(&data_dir, &storage, master, opening)
        .await?
        .store;
    let fhir = command_trail(store.clone(), audit.settings.clone(), &cursor).await?;
    Ok(Opened {
        store,
        fhir,
        audit,
        archive_key,
    })
}

/// The FHIR service a console command writes its audit records with, under the public URL the
/// server last ran with.
pub(crate) async fn command_trail(
    store: Arc<dyn Store>,
    settings: AuditSettings,
    cursor: &SecretBytes,
) -> Result<FhirService, StartupError> {
    let public = store
        .get_meta(PUBLIC_URL_META)
        .await
        .map_err(|e| err(e.to_string()))?
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| "https://localhost:8443".into());
    Ok(trail(store, &public, settings, cursor))
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
    .with_audit(AuditSettings {
        // A command writes a record or two and exits: each is signed before it goes on, so
        // no console record is left uncovered until the server's next checkpoint.
        sync_checkpoints: true,
        checkpoint_every: 1,
        ..settings
    })
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
    let o = open(&a.common, key, datadir::Opening::Verify).await?;
    let external = a
        .checkpoints
        .clone()
        .or(o.audit.settings.checkpoint_file.clone());
    let found = ward_core::verify_trail(o.store.as_ref(), external.as_deref(), now())
        .await
        .map_err(|e| err(format!("cannot read the audit trail: {e}")))?;
    let unchained = o
        .store
        .unchained_audit()
        .await
        .map_err(|e| err(format!("cannot read the pending audit records: {e}")))?;
    if unchained > 0 {
        // (verified as found: these are not in the trail yet, so not covered above)
        let n = if unchained == 1 {
            "1 record of a write is".to_owned()
        } else {
            format!("{unchained} records of writes are")
        };
        println!(
            "note: {n} pending in the data file and not in the trail yet (a stop between the \
             write and its record's append); Ward chains them the next time it opens the data"
        );
    }
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
            let purged = if r.purged_through > 0 {
                format!(
                    " (records up to seq {} purged under retention, as recorded)",
                    r.purged_through
                )
            } else {
                String::new()
            };
            let records = if r.records == 1 { "" } else { "s" };
            let checkpoints = if r.checkpoints == 1 { "" } else { "s" };
            println!(
                "audit trail OK: {} record{records}, {} signed checkpoint{checkpoints}{purged}",
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

/// Verifies the stored trail; a purge or an archive goes ahead only over a sound trail.
async fn sound_trail(o: &Opened) -> Result<ward_audit::VerifyReport, StartupError> {
    let external = o.audit.settings.checkpoint_file.clone();
    match ward_core::verify_trail(o.store.as_ref(), external.as_deref(), now())
        .await
        .map_err(|e| err(format!("cannot read the audit trail: {e}")))?
    {
        Ok(r) => Ok(r),
        Err(e) => Err(err(format!(
            "the audit trail does not verify ({e}); run `ward audit verify` and investigate \
             before archiving or purging"
        ))),
    }
}

/// Writes one console security event (with a PHI-free description) durably; its failure is
/// the command's failure.
pub(crate) async fn record_event(
    fhir: &FhirService,
    event: SecurityEvent,
    outcome: Outcome,
    desc: String,
) -> Result<(), String> {
    let rec = operator_record(fhir, event, outcome, Some(desc), Vec::new());
    fhir.audit_security(rec).await.map_err(|e| e.to_string())
}

/// [`record_event`] for the archive and purge commands.
async fn record(
    o: &Opened,
    event: SecurityEvent,
    outcome: Outcome,
    desc: String,
) -> Result<(), StartupError> {
    record_event(&o.fhir, event, outcome, desc)
        .await
        .map_err(|e| err(format!("cannot record the event in the audit trail: {e}")))
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name()
        .map_or_else(|| "?".into(), |n| n.to_string_lossy().into_owned())
}

/// `ward audit archive`.
#[allow(clippy::print_stdout)]
pub async fn archive(a: &AuditArchiveArgs, key: Option<SecretBytes>) -> Result<(), StartupError> {
    let o = open(&a.common, key, datadir::Opening::Command).await?;
    let report = sound_trail(&o).await?;
    let range = if a.all {
        (report.last_seq > report.purged_through)
            .then_some((report.purged_through + 1, report.last_seq))
    } else {
        ward_core::due_for_purge(o.store.as_ref(), now() - o.audit.retention_secs)
            .await
            .map_err(|e| err(format!("cannot read the audit trail: {e}")))?
    };
    let Some((from, through)) = range else {
        println!("no audit record is older than the retention period; nothing to archive");
        return Ok(());
    };
    let written = ward_core::write_archive(
        o.store.as_ref(),
        &o.archive_key,
        &a.out,
        from,
        through,
        &o.fhir.now_instant(),
    )
    .await;
    let checked = match written {
        Ok(_) => {
            let r = ward_core::verify_archive(o.store.as_ref(), &o.archive_key, &a.out)
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r);
            if r.is_err() {
                // an archive that does not verify is no archive: it must not be kept by mistake
                let _ = std::fs::remove_file(&a.out);
            }
            r
        }
        Err(e) => Err(e.to_string()),
    };
    let name = file_name(&a.out);
    match checked {
        Ok(s) => {
            record(
                &o,
                SecurityEvent::AuditExport,
                Outcome::Success,
                format!(
                    "archive {name}: seq {}-{} ({} records), sha256 {}, verified",
                    s.from,
                    s.through,
                    s.records,
                    hex::encode(s.sha256)
                ),
            )
            .await?;
            println!(
                "archived and verified {} audit records (seq {}-{}) in {}\nsha256 {}\n\
                 keep it with the master key: it is encrypted under a key derived from it",
                s.records,
                s.from,
                s.through,
                a.out.display(),
                hex::encode(s.sha256)
            );
            Ok(())
        }
        Err(why) => {
            record(
                &o,
                SecurityEvent::AuditExport,
                Outcome::SeriousFailure,
                format!("archive {name} failed"),
            )
            .await?;
            Err(err(format!(
                "the archive could not be written and verified: {why}"
            )))
        }
    }
}

/// Records a refused purge, and fails the command.
async fn refuse(o: &Opened, why: String) -> Result<(), StartupError> {
    record(
        o,
        SecurityEvent::AuditPurge,
        Outcome::MinorFailure,
        format!("refused: {why}"),
    )
    .await?;
    Err(err(format!("nothing purged: {why}")))
}

/// `ward audit purge`.
#[allow(clippy::print_stdout)]
pub async fn purge(a: &AuditPurgeArgs, key: Option<SecretBytes>) -> Result<(), StartupError> {
    let o = open(&a.common, key, datadir::Opening::Command).await?;
    sound_trail(&o).await?;
    let name = file_name(&a.archive);
    let checked =
        match ward_core::verify_archive(o.store.as_ref(), &o.archive_key, &a.archive).await {
            Ok(r) => r,
            Err(e) => Err(e.to_string()),
        };
    let archive = match checked {
        Ok(s) => s,
        Err(why) => return refuse(&o, format!("the archive {name} does not verify: {why}")).await,
    };
    let due = ward_core::due_for_purge(o.store.as_ref(), now() - o.audit.retention_secs)
        .await
        .map_err(|e| err(format!("cannot read the audit trail: {e}")))?;
    let Some((first, last_due)) = due else {
        println!("no audit record is older than the retention period; nothing to purge");
        return Ok(());
    };
    let mut through = last_due.min(archive.through);
    // Every configured export sink must have the records before they go.
    let mut sinks = Vec::new();
    if o.audit.export_dir.is_some() {
        sinks.push("file");
    }
    if o.audit.syslog.is_some() {
        sinks.push("syslog");
    }
    for sink in sinks {
        let pos = ward_core::export_position(o.store.as_ref(), sink).await;
        if pos < through {
            println!("the {sink} export sink has records up to seq {pos} only; purging no further");
            through = pos;
        }
    }
    if through < first {
        return refuse(
            &o,
            "the archive or the export sinks do not hold the records due".into(),
        )
        .await;
    }
    let template = operator_record(
        &o.fhir,
        SecurityEvent::AuditPurge,
        Outcome::Success,
        None,
        Vec::new(),
    );
    let n = o
        .fhir
        .purge_audit(&template, first, through, archive.sha256)
        .await
        .map_err(|e| {
            err(format!(
                "the purge failed (records not yet purged are kept): {e}"
            ))
        })?;
    println!(
        "purged {n} audit records (seq {first}-{through}), held by the verified archive {}; \
         the purge is recorded in the trail",
        a.archive.display()
    );
    Ok(())
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
    let o = open(&a.common, key, datadir::Opening::Command).await?;
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
    let o = open(&a.common, key, datadir::Opening::Command).await?;
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
    let o = open(&a.common, key, datadir::Opening::Command).await?;
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
