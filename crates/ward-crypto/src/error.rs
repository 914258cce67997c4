//! Errors of the crypto crate. Messages name the failing step, never key material or data.

/// A cryptographic failure. Each variant carries a stable code via [`CryptoError::code`].
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the system random number generator failed")]
    Random,
    #[error("key material has the wrong length or format")]
    BadKey,
    #[error("decryption failed: wrong key or tampered data")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
    #[error("the envelope is malformed or has an unknown version")]
    BadEnvelope,
    #[error(
        "the master key file {path} is readable by group or others (mode {mode:o}); run: chmod 600 {path}"
    )]
    LoosePermissions { path: String, mode: u32 },
    #[error("the master key file {path} cannot be read: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("the master key file {path} cannot be written: {reason}")]
    Unwritable { path: String, reason: String },
    #[error("signing failed")]
    Sign,
}

impl CryptoError {
    /// A stable, greppable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Random => "WARD-CRYPTO-RANDOM",
            Self::BadKey => "WARD-CRYPTO-BADKEY",
            Self::Decrypt => "WARD-CRYPTO-DECRYPT",
            Self::Encrypt => "WARD-CRYPTO-ENCRYPT",
            Self::BadEnvelope => "WARD-CRYPTO-ENVELOPE",
            Self::LoosePermissions { .. } => "WARD-CRYPTO-PERMS",
            Self::Unreadable { .. } => "WARD-CRYPTO-UNREADABLE",
            Self::Unwritable { .. } => "WARD-CRYPTO-UNWRITABLE",
            Self::Sign => "WARD-CRYPTO-SIGN",
        }
    }
}
