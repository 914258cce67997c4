//! Checking a backup before it is trusted: the manifest, the SHA-256 of the file, the key, the
//! manifest's HMAC, SQLite's and SQLCipher's integrity checks, and the audit chain inside the
//! copy. The checks run on a private copy (the "staging" file), so the file that passes is
//! the file a restore puts in place.

use std::path::Path;

use ward_audit::Outcome;
use ward_crypto::MasterKey;
use ward_store::{KeyRing, StoreError};
use ward_store_sqlite::{SqliteOptions, SqliteStore, is_plaintext_sqlite};

use super::files;
use super::manifest::{self, Body, Manifest};

/// Why a backup was refused. The messages name files and checks, never data.
#[derive(Debug, thiserror::Error)]
pub enum CheckFailure {
    #[error("{0}")]
    Manifest(String),
    #[error("cannot read the backup file {file}: {reason}")]
    Unreadable { file: String, reason: String },
    #[error(
        "the backup file does not match its manifest ({what} differs): it was altered or damaged after it was written"
    )]
    Altered { what: &'static str },
    #[error("the backup file is an unencrypted SQLite database: Ward never writes those")]
    Plaintext,
    #[error(
        "the master key does not open this backup: wrong key (a backup opens only with the master key of the data directory it was made from)"
    )]
    WrongKey,
    #[error(
        "the manifest's signature does not verify: the manifest was altered, or it was made by another data directory"
    )]
    Signature,
    #[error("the backup failed its integrity check: {0}")]
    Integrity(String),
    #[error("the audit trail inside the backup does not verify: {0}")]
    Chain(String),
    #[error("the audit chain inside the backup ({found}) differs from its manifest ({expected})")]
    Head { found: String, expected: String },
    #[error("cannot check the backup: {0}")]
    Other(String),
}

impl CheckFailure {
    /// A short, stable code for the audit record's outcome description.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Manifest(_) => "manifest",
            Self::Unreadable { .. } => "unreadable",
            Self::Altered { .. } => "sha256-mismatch",
            Self::Plaintext => "plaintext",
            Self::WrongKey => "wrong-key",
            Self::Signature => "bad-signature",
            Self::Integrity(_) => "integrity",
            Self::Chain(_) => "audit-chain",
            Self::Head { .. } => "audit-chain-mismatch",
            Self::Other(_) => "error",
        }
    }

    /// The audit outcome: the operator's mistakes are minor, a damaged backup is serious.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Manifest(_) | Self::Unreadable { .. } | Self::WrongKey | Self::Other(_) => {
                Outcome::MinorFailure
            }
            _ => Outcome::SeriousFailure,
        }
    }
}

/// A backup that passed every check.
#[derive(Debug)]
pub struct Checked {
    pub body: Body,
    /// Audit records verified in the copy.
    pub records: u64,
}

/// Checks the backup at `file` through a copy at `staging` (which must not exist). On success
/// the checked copy is left at `staging`, closed; on failure it is removed.
pub async fn check(
    file: &Path,
    staging: &Path,
    master: MasterKey,
    now: i64,
) -> Result<Checked, CheckFailure> {
    let result = check_inner(file, staging, master, now).await;
    if result.is_err() {
        files::remove_db(staging);
    }
    result
}

async fn check_inner(
    file: &Path,
    staging: &Path,
    master: MasterKey,
    now: i64,
) -> Result<Checked, CheckFailure> {
    let m = Manifest::read(&manifest::path_for(file)).map_err(CheckFailure::Manifest)?;
    let b = &m.manifest;
    copy_checked(file, staging, b.bytes, &b.sha256, ["size", "SHA-256"])?;
    // Version 2: the audit trail file beside it (docs/design/011-audit-file.md). A version-1
    // backup holds its trail inside the database file; opening it moves the trail out.
    if let (Some(bytes), Some(sha)) = (b.audit_bytes, &b.audit_sha256) {
        let (from, to) = (files::trail_of(file), files::trail_of(staging));
        let what = ["audit trail size", "audit trail SHA-256"];
        copy_checked(&from, &to, bytes, sha, what)?;
    }
    let mac = manifest::mac_key(&master).map_err(CheckFailure::Other)?;
    let store = SqliteStore::open(SqliteOptions::new(staging), KeyRing::new(master))
        .await
        .map_err(|e| match e {
            StoreError::WrongKey => CheckFailure::WrongKey,
            StoreError::AuditTrail(why) => {
                CheckFailure::Chain(format!("the backup's audit trail file {why}"))
            }
            other => CheckFailure::Other(format!("cannot open the copy: {other}")),
        })?;
    let checked = inspect(&store, &m, &mac, now).await;
    if !store.close().await {
        return Err(CheckFailure::Other("the checked copy is still open".into()));
    }
    checked
}

/// Copies `file` to `to` and checks the copy against the manifest's size and SHA-256 (`what`
/// names them in a failure), and that it is encrypted.
fn copy_checked(
    file: &Path,
    to: &Path,
    bytes: u64,
    sha256: &str,
    what: [&'static str; 2],
) -> Result<(), CheckFailure> {
    let (n, sha) = files::copy_hashing(file, to).map_err(|e| CheckFailure::Unreadable {
        file: file.display().to_string(),
        reason: e.to_string(),
    })?;
    let [size, digest] = what;
    if n != bytes {
        return Err(CheckFailure::Altered { what: size });
    }
    if hex::encode(sha) != sha256 {
        return Err(CheckFailure::Altered { what: digest });
    }
    if is_plaintext_sqlite(to).map_err(|e| CheckFailure::Other(e.to_string()))? {
        return Err(CheckFailure::Plaintext);
    }
    Ok(())
}

/// The checks that need the opened copy.
async fn inspect(
    store: &SqliteStore,
    m: &Manifest,
    mac: &ward_crypto::Mac,
    now: i64,
) -> Result<Checked, CheckFailure> {
    if !m.verify(mac) {
        return Err(CheckFailure::Signature);
    }
    let problems = store
        .integrity_check()
        .await
        .map_err(|e| CheckFailure::Integrity(e.to_string()))?;
    if let Some(first) = problems.first() {
        return Err(CheckFailure::Integrity(format!(
            "{first} ({} problems)",
            problems.len()
        )));
    }
    // The external checkpoint log is not consulted: it runs ahead of any backup.
    let report = ward_core::verify_trail(store, None, now)
        .await
        .map_err(|e| CheckFailure::Chain(e.to_string()))?
        .map_err(|e| CheckFailure::Chain(e.to_string()))?;
    let (seq, hash) = store
        .audit_head()
        .await
        .map_err(|e| CheckFailure::Chain(e.to_string()))?;
    let first = if report.records == 0 {
        0
    } else {
        report.purged_through + 1
    };
    let b = &m.manifest;
    if (first, seq) != (b.audit_first, b.audit_seq) || hex::encode(hash) != b.audit_hash {
        return Err(CheckFailure::Head {
            found: format!("seq {first}..{seq}, head hash {}", hex::encode(hash)),
            expected: format!(
                "seq {}..{}, head hash {}",
                b.audit_first, b.audit_seq, b.audit_hash
            ),
        });
    }
    Ok(Checked {
        body: m.manifest.clone(),
        records: report.records,
    })
}
