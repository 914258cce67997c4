//! Security state of the authorization server: clients, users, login sessions, one-time
//! codes, refresh-token families, revocations, replay and lockout counters, launch contexts and
//! break-glass grants. All of it lives in the database so that several stateless nodes can share
//! it. Records are plain data; secrets arrive already hashed (passwords, client secrets, tokens,
//! recovery codes) or sealed with the key ring (TOTP secrets) — a backend never sees a secret in
//! clear.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// A registered OAuth client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    pub id: String,
    /// `backend`, `public` or `confidential`.
    pub kind: String,
    /// The scopes the client may hold (space-separated SMART scopes).
    pub scope: String,
    /// Exact-match redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Inline JWKS (JSON text) for `private_key_jwt`.
    pub jwks: Option<String>,
    /// JWKS URL for `private_key_jwt`.
    pub jwks_url: Option<String>,
    /// PHC string (Argon2id) of the client secret, for `client_secret_basic`.
    pub secret_hash: Option<String>,
    pub created: i64,
    pub disabled: bool,
}

/// A user who logs in to the authorization server's pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Stable id (the token `sub`).
    pub id: String,
    /// Login name (unique).
    pub username: String,
    /// `admin`, `clinician`, `patient` or `auditor`.
    pub role: String,
    /// PHC string (Argon2id) of the password.
    pub password_hash: String,
    /// A FHIR reference such as `Practitioner/123`.
    pub fhir_user: Option<String>,
    /// The Patient id a patient user is bound to.
    pub patient: Option<String>,
    /// TOTP secret, sealed with the key ring (base64 of the envelope).
    pub totp_sealed: Option<String>,
    /// True once the user has proved a TOTP code during enrollment.
    pub totp_confirmed: bool,
    /// Last TOTP time step accepted (a code is never accepted twice).
    pub totp_last_step: i64,
    /// SHA-256 (hex) of each unused recovery code.
    pub recovery_hashes: Vec<String>,
    /// May open break-glass emergency access.
    pub break_glass: bool,
    pub created: i64,
    pub disabled: bool,
}

/// A login session of the pages, keyed by the SHA-256 of its cookie value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id_hash: String,
    /// The user, once the password has been checked.
    pub user_id: Option<String>,
    /// True once the second factor has been checked (or none was needed).
    pub mfa_done: bool,
    /// Anti-CSRF token bound to the session (random, compared in constant time).
    pub csrf: String,
    /// The pending authorization request (JSON), if any.
    pub pending: Option<String>,
    pub created: i64,
    pub last_seen: i64,
}

/// Answer of a one-time redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed<T> {
    /// First use: the record, now marked used.
    Fresh(T),
    /// Already used before: the record (so its grant can be revoked).
    Reused(T),
    /// No such (or expired) item.
    Unknown,
}

/// An authorization code, keyed by the SHA-256 of the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    pub hash: String,
    /// The grant (refresh family) the code starts; tokens from it carry this id.
    pub grant: String,
    pub client_id: String,
    pub redirect_uri: String,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    pub user_id: String,
    pub scope: String,
    pub patient: Option<String>,
    pub encounter: Option<String>,
    pub fhir_user: Option<String>,
    pub nonce: Option<String>,
    pub need_patient_banner: bool,
    pub break_glass: bool,
    /// The login session that approved the code (ends `online_access` refresh families).
    pub session_hash: Option<String>,
    pub expires: i64,
}

/// A refresh token, keyed by the SHA-256 of the token. Each use rotates it; tokens of one grant
/// form a family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub hash: String,
    pub grant: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub patient: Option<String>,
    pub encounter: Option<String>,
    pub fhir_user: Option<String>,
    pub break_glass: bool,
    /// Expiry of this token.
    pub expires: i64,
    /// `online_access` families end with the login session.
    pub session_hash: Option<String>,
}

/// An EHR launch context minted by `ward launch create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchRecord {
    pub id: String,
    pub patient: Option<String>,
    pub encounter: Option<String>,
    pub expires: i64,
}

/// An emergency (break-glass) access grant and its review state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakGlassRecord {
    pub id: String,
    pub user_id: String,
    pub username: String,
    pub reason: String,
    pub opened: i64,
    pub expires: i64,
    /// The reviewing admin, once reviewed.
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub review_note: Option<String>,
}

/// Security state, implemented by each backend.
#[async_trait]
pub trait AuthStore: Send + Sync + 'static {
    /// Inserts or replaces a client.
    async fn put_client(&self, c: &ClientRecord) -> StoreResult<()>;
    async fn get_client(&self, id: &str) -> StoreResult<Option<ClientRecord>>;
    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>>;

    /// Inserts or replaces a user (by id). A username taken by another id is a
    /// [`crate::StoreError::VersionConflict`].
    async fn put_user(&self, u: &UserRecord) -> StoreResult<()>;
    async fn get_user(&self, id: &str) -> StoreResult<Option<UserRecord>>;
    async fn find_user(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    async fn list_users(&self) -> StoreResult<Vec<UserRecord>>;

    async fn put_session(&self, s: &SessionRecord) -> StoreResult<()>;
    async fn get_session(&self, id_hash: &str) -> StoreResult<Option<SessionRecord>>;
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()>;
    /// Deletes sessions not seen since `before` (expired by the idle timeout).
    async fn prune_sessions(&self, before: i64) -> StoreResult<()>;

    async fn put_code(&self, c: &CodeRecord) -> StoreResult<()>;
    /// Marks the code used, atomically; expired codes are `Unknown`.
    async fn redeem_code(&self, hash: &str, now: i64) -> StoreResult<Redeemed<CodeRecord>>;

    async fn put_refresh(&self, r: &RefreshRecord) -> StoreResult<()>;
    /// Marks the token used, atomically; expired tokens are `Unknown`.
    async fn redeem_refresh(&self, hash: &str, now: i64) -> StoreResult<Redeemed<RefreshRecord>>;
    /// The refresh token if it is unused and unexpired (for introspection; does not use it).
    async fn peek_refresh(&self, hash: &str, now: i64) -> StoreResult<Option<RefreshRecord>>;

    /// Adds `id` (a token `jti` or a grant id) to the revocation list until `until`.
    async fn revoke(&self, id: &str, until: i64) -> StoreResult<()>;
    /// True if any of `ids` is on the revocation list.
    async fn any_revoked(&self, ids: &[&str], now: i64) -> StoreResult<bool>;

    /// Remembers `key` until `until`; false if it was already remembered (a replay).
    async fn remember_once(&self, key: &str, until: i64, now: i64) -> StoreResult<bool>;

    /// Records a failed attempt under `key` at `at`.
    async fn add_failure(&self, key: &str, at: i64) -> StoreResult<()>;
    /// Failures under `key` since `since`.
    async fn count_failures(&self, key: &str, since: i64) -> StoreResult<u32>;
    async fn clear_failures(&self, key: &str) -> StoreResult<()>;

    async fn put_launch(&self, l: &LaunchRecord) -> StoreResult<()>;
    async fn get_launch(&self, id: &str, now: i64) -> StoreResult<Option<LaunchRecord>>;

    /// Inserts or replaces a break-glass grant.
    async fn put_break_glass(&self, g: &BreakGlassRecord) -> StoreResult<()>;
    async fn get_break_glass(&self, id: &str) -> StoreResult<Option<BreakGlassRecord>>;
    /// Grants, newest first; only unreviewed ones when `pending_only`.
    async fn list_break_glass(&self, pending_only: bool) -> StoreResult<Vec<BreakGlassRecord>>;
}
