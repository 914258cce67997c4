//! Break-glass emergency access: a user holding the permission opens it with a typed reason
//! for a limited time (default 60 min, capped). While it is open, the tokens issued to that
//! user carry purposeOfUse BTG. Every opening waits in the review queue until an admin reviews
//! it.

use ward_store::auth::{BreakGlassRecord, SessionRecord};

use super::{AuthServer, OAuthError};

impl AuthServer {
    /// Opens emergency access for the session's user.
    pub async fn open_break_glass(
        &self,
        session: &SessionRecord,
        reason: &str,
        minutes: Option<i64>,
        now: i64,
    ) -> Result<BreakGlassRecord, OAuthError> {
        let user = self
            .session_user(session)
            .await?
            .filter(|_| session.mfa_done)
            .ok_or_else(|| OAuthError::access_denied("log in first"))?;
        if !user.break_glass {
            return Err(OAuthError::access_denied(
                "this user may not open emergency access",
            ));
        }
        let reason = reason.trim();
        if reason.chars().count() < 10 || reason.len() > 2000 {
            return Err(OAuthError::invalid_request(
                "give a reason of at least 10 characters",
            ));
        }
        let secs = minutes
            .map_or(self.settings.break_glass_default, |m| m.saturating_mul(60))
            .clamp(60, self.settings.break_glass_max);
        let record = BreakGlassRecord {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user.id,
            username: user.username,
            reason: reason.to_owned(),
            opened: now,
            expires: now + secs,
            reviewed_by: None,
            reviewed_at: None,
            review_note: None,
        };
        self.store.put_break_glass(&record).await?;
        tracing::warn!(grant = %record.id, "break-glass emergency access opened");
        Ok(record)
    }

    /// True if `user_id` has emergency access open at `now`.
    pub async fn break_glass_active(&self, user_id: &str, now: i64) -> Result<bool, OAuthError> {
        Ok(self
            .store
            .list_break_glass(false)
            .await?
            .iter()
            .any(|g| g.user_id == user_id && g.opened <= now && now < g.expires))
    }

    /// Marks a grant reviewed.
    pub async fn review_break_glass(
        &self,
        id: &str,
        reviewer: &str,
        note: Option<String>,
        now: i64,
    ) -> Result<BreakGlassRecord, OAuthError> {
        let mut g = self
            .store
            .get_break_glass(id)
            .await?
            .ok_or_else(|| OAuthError::invalid_request("no such break-glass grant"))?;
        g.reviewed_by = Some(reviewer.to_owned());
        g.reviewed_at = Some(now);
        g.review_note = note;
        self.store.put_break_glass(&g).await?;
        Ok(g)
    }
}
