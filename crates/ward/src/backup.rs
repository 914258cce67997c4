//! `ward backup create | verify | restore` for the embedded SQLCipher store
//! (docs/design/010-backup.md). Each is recorded in an audit trail (HIPAA §164.312(b)): create
//! and verify in the data directory's trail, a restore in the restored database's trail, and a
//! refusal in the data directory's trail when it has a database (with none there is no trail
//! to write to). If the record cannot be written, the command fails. PostgreSQL is backed up
//! with its own tools.

mod check;
mod files;
mod manifest;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ward_audit::{Outcome, SecurityEvent};
use ward_core::{AuditSettings, FhirService};
use ward_crypto::{MasterKey, SecretBytes};
use ward_store::Store;
use ward_store_sqlite::SqliteStore;

use crate::audit_cmd::{command_trail, record_event as record};
use crate::cli::{BackupCreateArgs, BackupRestoreArgs, BackupVerifyArgs, CommonArgs};
use crate::config::{self, StorageConfig};
use crate::datadir::{self, StartupError};

use self::check::Checked;
use self::manifest::{Body, Manifest};

fn err(m: impl Into<String>) -> StartupError {
    StartupError::Message(m.into())
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

const POSTGRES: &str = "`ward backup` copies the embedded SQLCipher store, and this configuration \
uses PostgreSQL ([storage] kind = \"postgres\"): back it up with PostgreSQL's own tools \
(pg_basebackup with WAL archiving, or pg_dump), and keep the master key apart from those \
backups (docs/design/010-backup.md)";

/// What every backup command needs: the data directory, where its master key comes from, and
/// the audit settings.
struct Ctx {
    data_dir: PathBuf,
    inline_key: Option<SecretBytes>,
    key_file: PathBuf,
    settings: AuditSettings,
}

/// A database opened with the trail its commands write to.
struct Live {
    store: SqliteStore,
    fhir: FhirService,
}

impl Ctx {
    fn load(common: &CommonArgs, key: Option<SecretBytes>) -> Result<Self, StartupError> {
        let file = config::read_file(common).map_err(|e| err(e.to_string()))?;
        let data_dir = config::data_dir(common, &file);
        if let StorageConfig::Postgres(_) =
            config::resolve_storage(common, &file.storage).map_err(|e| err(e.to_string()))?
        {
            return Err(err(POSTGRES));
        }
        let key_file = file
            .keys
            .master_key_file
            .clone()
            .unwrap_or_else(|| config::default_key_file(&data_dir));
        let audit =
            crate::audit_config::resolve_audit(file.audit).map_err(|e| err(e.to_string()))?;
        Ok(Self {
            data_dir,
            inline_key: key,
            key_file,
            settings: audit.settings,
        })
    }

    fn master(&self) -> Result<MasterKey, StartupError> {
        datadir::master_key(self.inline_key.clone(), &self.key_file, false)
    }

    fn db(&self) -> PathBuf {
        datadir::db_path(&self.data_dir)
    }

    /// Opens the data directory's database and the trail its records go to.
    async fn open(&self, missing: &str) -> Result<Live, StartupError> {
        let path = self.db();
        if !path.exists() {
            return Err(err(format!("no database at {}: {missing}", path.display())));
        }
        open_trail(&path, self.master()?, self.settings.clone()).await
    }
}

/// Opens the database at `path` and the trail console records go to.
async fn open_trail(
    path: &Path,
    master: MasterKey,
    settings: AuditSettings,
) -> Result<Live, StartupError> {
    let cursor = master
        .derive("ward/cursor-mac/v1")
        .map_err(|e| err(e.to_string()))?;
    let store = datadir::open_sqlite(path, master).await?;
    let trail: Arc<dyn Store> = Arc::new(store.clone());
    let fhir = command_trail(trail, settings, &cursor).await?;
    Ok(Live { store, fhir })
}

/// The file name of `path`, for messages and audit records (never the directory).
fn file_name(path: &Path) -> Result<String, StartupError> {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| err(format!("{} is not a file name", path.display())))
}

/// "1 resource", "3 resources".
fn resources(n: u64) -> String {
    if n == 1 {
        "1 resource".into()
    } else {
        format!("{n} resources")
    }
}

fn seq_range(first: u64, last: u64) -> String {
    if last == 0 || first == 0 {
        "no audit records".into()
    } else {
        format!("audit seq {first}..{last}")
    }
}

/// A unique private directory for checking a backup, inside the data directory.
fn staging_dir(data_dir: &Path) -> Result<PathBuf, StartupError> {
    let dir = data_dir.join(format!(".backup-check-{}", uuid::Uuid::new_v4().simple()));
    datadir::ensure_private_dir(&dir)?;
    Ok(dir)
}

/// `ward backup create`.
#[allow(clippy::print_stdout)]
pub async fn create(a: &BackupCreateArgs, key: Option<SecretBytes>) -> Result<(), StartupError> {
    let ctx = Ctx::load(&a.common, key)?;
    let name = file_name(&a.out)?;
    let manifest_path = manifest::path_for(&a.out);
    let trail_out = files::trail_of(&a.out);
    for p in [&a.out, &trail_out, &manifest_path] {
        if p.symlink_metadata().is_ok() {
            let message = format!(
                "{} exists: refusing to overwrite it (choose a new name)",
                p.display()
            );
            let shown = p.file_name().unwrap_or_default().to_string_lossy();
            let desc = format!("create {name}: refused ({shown} exists)");
            let kind = SecurityEvent::Backup;
            return Err(refuse(&ctx, kind, Outcome::MinorFailure, desc, message).await);
        }
    }
    let live = ctx
        .open("nothing to back up (start `ward serve` once first)")
        .await?;
    match write_backup(&ctx, &live.store, &a.out, &manifest_path, &name).await {
        Ok(body) => {
            let desc = format!(
                "create {name}: {}",
                seq_range(body.audit_first, body.audit_seq)
            );
            if let Err(e) = record(&live.fhir, SecurityEvent::Backup, Outcome::Success, desc).await
            {
                files::remove_quietly(&a.out);
                files::remove_quietly(&trail_out);
                files::remove_quietly(&manifest_path);
                return Err(err(format!(
                    "the backup was removed: it could not be recorded in the audit trail ({e})"
                )));
            }
            println!(
                "backup written: {} ({} bytes, {}) and its audit trail {} ({} bytes, {}), manifest {}",
                a.out.display(),
                body.bytes,
                resources(body.resources),
                trail_out.display(),
                body.audit_bytes.unwrap_or(0),
                seq_range(body.audit_first, body.audit_seq),
                manifest_path.display()
            );
            println!(
                "the master key is NOT in the backup: keep it apart (it is needed to verify and restore)"
            );
            Ok(())
        }
        Err(e) => {
            let desc = format!("create {name}: failed");
            record(
                &live.fhir,
                SecurityEvent::Backup,
                Outcome::SeriousFailure,
                desc,
            )
            .await
            .map_err(|r| {
                err(format!(
                    "{e}; the failure could not be recorded in the audit trail either ({r})"
                ))
            })?;
            Err(e)
        }
    }
}

/// Copies the database to a temporary name next to `out`, writes the signed manifest, and
/// publishes both (never over an existing file). Nothing is left under `out` on failure.
async fn write_backup(
    ctx: &Ctx,
    store: &SqliteStore,
    out: &Path,
    manifest_path: &Path,
    name: &str,
) -> Result<Body, StartupError> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(err(format!("{} is not a directory", dir.display())));
    }
    let tag = uuid::Uuid::new_v4().simple();
    let tmp = dir.join(format!(".{name}.partial-{tag}"));
    let tmp_trail = files::trail_of(&tmp);
    let tmp_manifest = dir.join(format!(".{name}.manifest.partial-{tag}"));
    let result = async {
        let created = now()
            .replace_nanosecond(0)
            .map_err(|e| err(e.to_string()))?;
        let info = store
            .backup_to(&tmp)
            .await
            .map_err(|e| err(format!("cannot copy the database: {e}")))?;
        let hash = |f: &Path| {
            files::hash_file(f)
                .map_err(|e| err(format!("cannot read the copy {}: {e}", f.display())))
        };
        let (bytes, sha) = hash(&tmp)?;
        let (trail_bytes, trail_sha) = hash(&tmp_trail)?;
        let body = Body {
            format: manifest::FORMAT.into(),
            version: manifest::VERSION,
            created: created
                .format(&time::format_description::well_known::Rfc3339)
                .map_err(|e| err(e.to_string()))?,
            ward_version: env!("CARGO_PKG_VERSION").into(),
            file: name.to_owned(),
            bytes,
            sha256: hex::encode(sha),
            resources: info.resources,
            audit_first: info.audit_first,
            audit_seq: info.audit_seq,
            audit_hash: hex::encode(info.audit_hash),
            audit_bytes: Some(trail_bytes),
            audit_sha256: Some(hex::encode(trail_sha)),
        };
        let mac = manifest::mac_key(&ctx.master()?).map_err(err)?;
        let signed = Manifest::sign(body.clone(), &mac).map_err(err)?;
        let io = |what: &Path| {
            let shown = what.display().to_string();
            move |e: std::io::Error| err(format!("cannot write {shown}: {e}"))
        };
        signed.write_new(&tmp_manifest).map_err(io(&tmp_manifest))?;
        let trail_out = files::trail_of(out);
        files::publish(&tmp, out).map_err(io(out))?;
        if let Err(e) = files::publish(&tmp_trail, &trail_out) {
            files::remove_quietly(out);
            return Err(io(&trail_out)(e));
        }
        if let Err(e) = files::publish(&tmp_manifest, manifest_path) {
            files::remove_quietly(out);
            files::remove_quietly(&trail_out);
            return Err(io(manifest_path)(e));
        }
        files::sync_dir(&dir).map_err(io(&dir))?;
        Ok(body)
    }
    .await;
    files::remove_quietly(&tmp);
    files::remove_quietly(&tmp_trail);
    files::remove_quietly(&tmp_manifest);
    result
}

/// `ward backup verify`.
#[allow(clippy::print_stdout)]
pub async fn verify(a: &BackupVerifyArgs, key: Option<SecretBytes>) -> Result<(), StartupError> {
    let ctx = Ctx::load(&a.common, key)?;
    let name = file_name(&a.file)?;
    let live = ctx
        .open(
            "`ward backup verify` records the verification in this data directory's audit \
             trail; to restore into an empty data directory, run `ward backup restore` (it \
             verifies the backup first)",
        )
        .await?;
    let dir = staging_dir(&ctx.data_dir)?;
    let result = check::check(
        &a.file,
        &dir.join("ward.db"),
        ctx.master()?,
        now().unix_timestamp(),
    )
    .await;
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        tracing::warn!(dir = %dir.display(), error = %e.kind(), "could not remove the check directory");
    }
    let (outcome, desc) = match &result {
        Ok(c) => (
            Outcome::Success,
            format!(
                "verify {name}: ok, {}",
                seq_range(c.body.audit_first, c.body.audit_seq)
            ),
        ),
        Err(f) => (f.outcome(), format!("verify {name}: failed ({})", f.code())),
    };
    record(&live.fhir, SecurityEvent::Backup, outcome, desc)
        .await
        .map_err(|e| err(format!("cannot record the verification: {e}")))?;
    let c = result.map_err(|f| err(format!("backup verification FAILED: {f}")))?;
    println!(
        "backup OK: {name}: created {} by Ward {}, {}, {} audit records, last audit seq {}",
        c.body.created,
        c.body.ward_version,
        resources(c.body.resources),
        c.records,
        c.body.audit_seq
    );
    Ok(())
}

/// `ward backup restore`.
#[allow(clippy::print_stdout)]
pub async fn restore(a: &BackupRestoreArgs, key: Option<SecretBytes>) -> Result<(), StartupError> {
    let ctx = Ctx::load(&a.common, key)?;
    let name = file_name(&a.file)?;
    // Held to the end: no server can start on the directory while its database is swapped.
    let (_lock, had_db) = lock_for_restore(&ctx, &name, a.force).await?;
    let db = ctx.db();
    let staging = files::with_suffix(&db, &format!(".restore-{}", uuid::Uuid::new_v4().simple()));
    let checked = match check::check(&a.file, &staging, ctx.master()?, now().unix_timestamp()).await
    {
        Ok(c) => c,
        Err(f) => return Err(refused(&ctx, &name, &f, had_db).await),
    };
    let stamp = now()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .map_err(|e| err(e.to_string()))?;
    let aside = files::with_suffix(&db, &format!(".before-restore-{stamp}"));
    let desc = restore_desc(&name, &checked, had_db.then_some(aside.as_path()));
    // Recorded in the checked copy before it is put in place: the restored trail shows the
    // restore, and a restore that cannot be recorded changes nothing.
    if let Err(e) = record_in_copy(&ctx, &staging, desc).await {
        files::remove_db(&staging);
        return Err(err(format!(
            "restore not done: it could not be recorded in the restored audit trail ({e})"
        )));
    }
    swap_in(&db, &staging, had_db.then_some(aside.as_path()))?;
    let seq = match confirm(&ctx, &db, checked.body.audit_seq).await {
        Ok(seq) => seq,
        Err(e) => {
            let undone = undo(&db, &stamp, had_db.then_some(aside.as_path()));
            return Err(err(format!(
                "the restored database did not open in place ({e}); {undone}"
            )));
        }
    };
    println!(
        "restored {name}: created {}, {}, {}; the restore is audit seq {seq}",
        checked.body.created,
        resources(checked.body.resources),
        seq_range(checked.body.audit_first, checked.body.audit_seq)
    );
    if had_db {
        println!("the previous database is kept as {}", aside.display());
    }
    Ok(())
}

/// Takes the data directory's exclusive lock (refused while a server runs) and refuses to
/// replace a database without `force`; both refusals are recorded. Returns the lock and
/// whether a database is there.
async fn lock_for_restore(
    ctx: &Ctx,
    name: &str,
    force: bool,
) -> Result<(datadir::DirLock, bool), StartupError> {
    datadir::ensure_private_dir(&ctx.data_dir)?;
    let refusal = |why: &str, message: String| {
        let desc = format!("restore from {name}: refused ({why})");
        let kind = SecurityEvent::Restore;
        refuse(ctx, kind, Outcome::MinorFailure, desc, message)
    };
    let Some(lock) = datadir::try_lock(&ctx.data_dir, true)? else {
        let message = format!(
            "a ward server is running on {} (it holds {}): stop it, then restore",
            ctx.data_dir.display(),
            datadir::LOCK_FILE
        );
        return Err(refusal("server running", message).await);
    };
    let had_db = files::db_present(&ctx.db());
    if had_db && !force {
        let message = format!(
            "{} already has a database: pass --force to replace it (the current one is kept as \
             ward.db.before-restore-<time>)",
            ctx.data_dir.display()
        );
        return Err(refusal("database present, no --force", message).await);
    }
    Ok((lock, had_db))
}

/// A refused restore, recorded in the current trail when there is one.
async fn refused(ctx: &Ctx, name: &str, f: &check::CheckFailure, had_db: bool) -> StartupError {
    let message = format!("restore refused: backup verification FAILED: {f}");
    if !had_db {
        return err(message);
    }
    let desc = format!("restore from {name}: refused ({})", f.code());
    refuse(ctx, SecurityEvent::Restore, f.outcome(), desc, message).await
}

/// A refusal (`message`), recorded as `event` in the data directory's trail. With no database
/// there is no trail to record it in (a restore into an empty directory, a backup or a
/// verification of a directory never served): only the message is returned.
async fn refuse(
    ctx: &Ctx,
    event: SecurityEvent,
    outcome: Outcome,
    desc: String,
    message: String,
) -> StartupError {
    if !ctx.db().exists() {
        return err(message);
    }
    let recorded = match ctx.open("").await {
        Ok(live) => record(&live.fhir, event, outcome, desc).await,
        Err(e) => Err(e.to_string()),
    };
    match recorded {
        Ok(()) => err(message),
        Err(r) => err(format!(
            "{message}; the refusal could not be recorded in the audit trail ({r})"
        )),
    }
}

/// Moves the current database aside (if any) and the checked copy into its place.
fn swap_in(db: &Path, staging: &Path, aside: Option<&Path>) -> Result<(), StartupError> {
    let dir = db.parent().unwrap_or(Path::new("."));
    if let Some(aside) = aside
        && let Err(e) = files::move_db(db, aside)
    {
        files::remove_db(staging);
        return Err(err(format!(
            "cannot move the current database aside to {}: {e}",
            aside.display()
        )));
    }
    if let Err(e) = files::move_db(staging, db) {
        files::remove_db(staging);
        let back = aside.map_or(Ok(()), |a| files::move_db(a, db));
        return Err(err(format!(
            "cannot put the backup in place: {e}{}",
            match back {
                Ok(()) => String::new(),
                Err(b) => format!("; and the previous database could not be moved back: {b}"),
            }
        )));
    }
    files::sync_dir(dir).map_err(|e| err(format!("cannot sync {}: {e}", dir.display())))
}

fn restore_desc(name: &str, c: &Checked, aside: Option<&Path>) -> String {
    let hash = c.body.audit_hash.get(..16).unwrap_or_default();
    let mut desc = format!(
        "restored from {name} (created {}, audit head seq {} hash {hash}…)",
        c.body.created, c.body.audit_seq
    );
    if let Some(a) = aside.and_then(Path::file_name) {
        desc.push_str("; previous database kept as ");
        desc.push_str(&a.to_string_lossy());
    }
    desc
}

/// Records the restore in the trail of the checked copy at `staging`, then closes the copy.
/// The audit writer's tasks keep handles on the store, so this runs on a runtime of its own
/// that is shut down (dropping them) before the copy is closed and can be moved.
async fn record_in_copy(ctx: &Ctx, staging: &Path, desc: String) -> Result<(), String> {
    let master = ctx.master().map_err(|e| e.to_string())?;
    let settings = ctx.settings.clone();
    let path = staging.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let opened = rt.block_on(async {
            let live = open_trail(&path, master, settings)
                .await
                .map_err(|e| e.to_string())?;
            let recorded = record(&live.fhir, SecurityEvent::Restore, Outcome::Success, desc).await;
            Ok::<_, String>((live.store, recorded))
        });
        drop(rt);
        let (store, recorded) = opened?;
        if !store.close_now() {
            return Err("the restored copy is still open".into());
        }
        recorded
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Opens the database now in place, checks that its trail ends with the restore record (after
/// the backup's head), and closes it again. Returns the restore record's seq.
async fn confirm(ctx: &Ctx, db: &Path, backup_head: u64) -> Result<u64, String> {
    if !db.exists() {
        return Err("it is not there".into());
    }
    let master = ctx.master().map_err(|e| e.to_string())?;
    let store = datadir::open_sqlite(db, master)
        .await
        .map_err(|e| e.to_string())?;
    let head = store.audit_head().await.map_err(|e| e.to_string());
    if !store.close().await {
        return Err("it is still open".into());
    }
    let (seq, _) = head?;
    if seq <= backup_head {
        return Err(format!(
            "its audit trail ends at seq {seq}, without the restore record"
        ));
    }
    Ok(seq)
}

/// Undoes a swap whose result did not open: the restored copy is kept aside as
/// `ward.db.failed-restore-<time>` and the previous database goes back. Says what it did.
fn undo(db: &Path, stamp: &str, aside: Option<&Path>) -> String {
    let failed = files::with_suffix(db, &format!(".failed-restore-{stamp}"));
    if let Err(e) = files::move_db(db, &failed) {
        return format!("the restored database is still in place; move it aside by hand ({e})");
    }
    match aside.map(|a| files::move_db(a, db)) {
        None | Some(Ok(())) => format!(
            "the restore was undone (the restored copy is kept as {})",
            failed.display()
        ),
        Some(Err(e)) => format!(
            "the restored copy was moved to {}, but the previous database could not be moved back ({e})",
            failed.display()
        ),
    }
}
