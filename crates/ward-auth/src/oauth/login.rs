//! Login sessions and the checks behind the login pages: password (Argon2id, same cost whether
//! or not the user exists), lockout with backoff per account and per source address, TOTP,
//! idle timeout (automatic logoff) and absolute timeout. Messages never reveal whether a user
//! exists. Session cookies are random; only their SHA-256 is stored.

use ward_store::auth::{SessionRecord, UserRecord};

use super::policy::Role;
use super::secrets::{dummy_password_hash, random_token, token_hash, verify_password};
use super::{AuthServer, OAuthError};

/// A live session and the cookie value that names it.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// The cookie value (secret; never logged).
    pub cookie: String,
    pub record: SessionRecord,
}

/// The answer to a login attempt.
#[derive(Debug, Clone)]
pub enum LoginOutcome {
    /// The password was right; the session was re-keyed (new cookie) against fixation.
    Ok(SessionView),
    /// Wrong username or password (one message for both).
    Failed,
    /// Too many recent failures for this account or address.
    Locked,
}

/// Which timeout ended a login session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionTimeout {
    /// No activity for the idle timeout (automatic logoff).
    Idle,
    /// Older than the absolute timeout, however active.
    Absolute,
}

/// What a session cookie names.
#[derive(Debug, Clone)]
pub enum SessionCheck {
    /// A live session (its idle timer restarted).
    Live(SessionRecord),
    /// A session that had timed out; it has just been deleted (automatic logoff). Reported
    /// once: the next request with the cookie finds nothing.
    Expired(SessionRecord, SessionTimeout),
    /// No such session (never existed, logged out, or pruned).
    Unknown,
}

impl SessionCheck {
    /// The live session, if any.
    pub fn live(self) -> Option<SessionRecord> {
        match self {
            Self::Live(s) => Some(s),
            _ => None,
        }
    }
}

fn user_key(username: &str) -> String {
    format!("login/user/{}", username.to_lowercase())
}

fn addr_key(addr: &str) -> String {
    format!("login/addr/{addr}")
}

impl AuthServer {
    /// A new, empty session (idle sessions of others are pruned on the way; an
    /// `online_access` app keeps its session alive for one access-token lifetime longer).
    pub async fn new_session(&self, now: i64) -> Result<SessionView, OAuthError> {
        let st = &self.settings;
        self.store
            .prune_sessions(now - st.session_idle - st.user_token_ttl)
            .await?;
        let cookie = random_token()?;
        let record = SessionRecord {
            id_hash: token_hash(&cookie),
            user_id: None,
            mfa_done: false,
            csrf: random_token()?,
            pending: None,
            created: now,
            last_seen: now,
        };
        self.store.put_session(&record).await?;
        Ok(SessionView { cookie, record })
    }

    /// The session named by `cookie`, if it exists and has not timed out; touching it restarts
    /// the idle timer. A timed-out session is deleted (automatic logoff) and reported as
    /// [`SessionCheck::Expired`], for the audit trail.
    pub async fn load_session(&self, cookie: &str, now: i64) -> Result<SessionCheck, OAuthError> {
        let hash = token_hash(cookie);
        let Some(mut s) = self.store.get_session(&hash).await? else {
            return Ok(SessionCheck::Unknown);
        };
        let st = &self.settings;
        let timeout = if now - s.created > st.session_absolute {
            Some(SessionTimeout::Absolute)
        } else if now - s.last_seen > st.session_idle {
            Some(SessionTimeout::Idle)
        } else {
            None
        };
        if let Some(t) = timeout {
            self.store.delete_session(&hash).await?;
            return Ok(SessionCheck::Expired(s, t));
        }
        s.last_seen = now;
        self.store.put_session(&s).await?;
        Ok(SessionCheck::Live(s))
    }

    /// Saves a changed session.
    pub async fn save_session(&self, s: &SessionRecord) -> Result<(), OAuthError> {
        Ok(self.store.put_session(s).await?)
    }

    /// Ends a session (logout).
    pub async fn end_session(&self, cookie: &str) -> Result<(), OAuthError> {
        Ok(self.store.delete_session(&token_hash(cookie)).await?)
    }

    /// The session's user, if logged in and still enabled.
    pub async fn session_user(&self, s: &SessionRecord) -> Result<Option<UserRecord>, OAuthError> {
        let Some(id) = &s.user_id else {
            return Ok(None);
        };
        Ok(self.store.get_user(id).await?.filter(|u| !u.disabled))
    }

    /// True if the user must pass a second factor.
    pub fn mfa_required(&self, user: &UserRecord) -> bool {
        user.totp_confirmed
            || self.settings.mfa_all_roles
            || Role::parse(&user.role).is_none_or(Role::mfa_mandatory)
    }

    /// Locked when `threshold` failures fall within the lockout window. The window backs off:
    /// it doubles for every further `threshold` failures in the last day (capped at a day), so
    /// an account or address that keeps failing after each lock waits longer each time.
    async fn locked(&self, keys: &[&str], now: i64) -> Result<bool, OAuthError> {
        let n = self.settings.lockout_threshold.max(1);
        for k in keys {
            let day = self.store.count_failures(k, now - 86_400).await?;
            if day < n {
                continue;
            }
            let doublings = (day / n).saturating_sub(1).min(16);
            let window = self
                .settings
                .lockout_window
                .saturating_mul(1 << doublings)
                .min(86_400);
            if self.store.count_failures(k, now - window).await? >= n {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// True if attempts for `username` or from `addr` are locked at `now`; asked right after a
    /// failed attempt, it tells whether that failure engaged the lock (for the audit trail).
    pub async fn login_locked(
        &self,
        username: &str,
        addr: &str,
        now: i64,
    ) -> Result<bool, OAuthError> {
        self.locked(&[&user_key(username), &addr_key(addr)], now)
            .await
    }

    async fn fail(&self, keys: &[&str], now: i64) -> Result<(), OAuthError> {
        for k in keys {
            self.store.add_failure(k, now).await?;
        }
        Ok(())
    }

    /// Checks a username and password for `session`, from source address `addr`.
    pub async fn login(
        &self,
        session: &SessionRecord,
        username: &str,
        password: &str,
        addr: &str,
        now: i64,
    ) -> Result<LoginOutcome, OAuthError> {
        let (uk, ak) = (user_key(username), addr_key(addr));
        if self.locked(&[&uk, &ak], now).await? {
            return Ok(LoginOutcome::Locked);
        }
        let user = self.store.find_user(username).await?;
        let hash = user
            .as_ref()
            .map_or(dummy_password_hash(), |u| u.password_hash.as_str());
        let ok = verify_password(hash, password.as_bytes());
        let user = match user {
            Some(u) if ok && !u.disabled => u,
            _ => {
                self.fail(&[&uk, &ak], now).await?;
                return Ok(LoginOutcome::Failed);
            }
        };
        let mfa_required = self.mfa_required(&user);
        if !mfa_required {
            // Signed in: the account's failures are forgiven. With a second factor still to
            // come they stay, so knowing the password alone never resets the lockout.
            self.store.clear_failures(&uk).await?;
        }
        // Re-key the session so a cookie planted before login is worthless after it.
        self.store.delete_session(&session.id_hash).await?;
        let mut fresh = self.new_session(now).await?;
        fresh.record.user_id = Some(user.id.clone());
        fresh.record.mfa_done = !mfa_required;
        fresh.record.pending = session.pending.clone();
        self.store.put_session(&fresh.record).await?;
        Ok(LoginOutcome::Ok(fresh))
    }

    /// Checks the second factor (TOTP or a recovery code) of a logged-in session.
    pub async fn verify_mfa(
        &self,
        session: &mut SessionRecord,
        code: &str,
        addr: &str,
        now: i64,
    ) -> Result<LoginOutcome, OAuthError> {
        let Some(mut user) = self.session_user(session).await? else {
            return Ok(LoginOutcome::Failed);
        };
        let (uk, ak) = (user_key(&user.username), addr_key(addr));
        if self.locked(&[&uk, &ak], now).await? {
            return Ok(LoginOutcome::Locked);
        }
        let allow_recovery = user.totp_confirmed;
        if !self
            .check_second_factor(&mut user, code, allow_recovery, now)
            .await?
        {
            self.fail(&[&uk, &ak], now).await?;
            return Ok(LoginOutcome::Failed);
        }
        self.store.clear_failures(&uk).await?;
        if !user.totp_confirmed {
            user.totp_confirmed = true;
            self.store.put_user(&user).await?;
        }
        session.mfa_done = true;
        self.store.put_session(session).await?;
        Ok(LoginOutcome::Ok(SessionView {
            cookie: String::new(),
            record: session.clone(),
        }))
    }
}
