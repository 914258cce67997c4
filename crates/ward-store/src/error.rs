//! Storage errors. Messages describe the failure class only: never resource content, ids from
//! requests, or SQL text.

/// Result alias for storage calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// A storage failure, mapped to an OperationOutcome by the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A concurrent writer changed the resource first.
    #[error("the resource was changed concurrently")]
    VersionConflict,
    /// The database is unreachable, busy past its timeout, or shutting down.
    #[error("the data store is unavailable")]
    Unavailable,
    /// The master key does not open this database.
    #[error("the master key does not open the database (wrong key, or not a Ward database)")]
    WrongKey,
    /// A sealed body failed authentication: tampering or a wrong key.
    #[error("stored data failed its integrity check")]
    Integrity,
    /// The store's on-disk schema is newer than this binary.
    #[error("the database schema version {found} is newer than this Ward ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    /// The backend's connection settings are unusable (message names the setting, never a
    /// password).
    #[error("invalid storage settings: {0}")]
    Config(String),
    /// The embedded store's audit trail file is missing, or belongs to another database
    /// (docs/design/011-audit-file.md): the store refuses to open rather than start a new,
    /// empty trail.
    #[error("the audit trail file {0}")]
    AuditTrail(&'static str),
    /// Any other backend failure (details are logged by the backend, not shown).
    #[error("internal storage error")]
    Internal(String),
}

impl StoreError {
    /// A stable, greppable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::VersionConflict => "WARD-STORE-CONFLICT",
            Self::Unavailable => "WARD-STORE-UNAVAILABLE",
            Self::WrongKey => "WARD-STORE-WRONGKEY",
            Self::Integrity => "WARD-STORE-INTEGRITY",
            Self::SchemaTooNew { .. } => "WARD-STORE-SCHEMA",
            Self::Config(_) => "WARD-STORE-CONFIG",
            Self::AuditTrail(_) => "WARD-STORE-AUDIT-TRAIL",
            Self::Internal(_) => "WARD-STORE-INTERNAL",
        }
    }
}

impl From<ward_crypto::CryptoError> for StoreError {
    fn from(e: ward_crypto::CryptoError) -> Self {
        match e {
            ward_crypto::CryptoError::Decrypt | ward_crypto::CryptoError::BadEnvelope => {
                Self::Integrity
            }
            other => Self::Internal(other.code().to_string()),
        }
    }
}
