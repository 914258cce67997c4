//! The authorization server's security state (`ward_store::auth`) in PostgreSQL: JSON record
//! bodies plus the columns that atomic redemption, expiry and counting need. Every call goes
//! to the primary (a revocation must be seen at once by every node). One-time redemption is a
//! single conditional `UPDATE … WHERE NOT used`, so of two nodes racing with the same code or
//! refresh token exactly one wins; the row lock decides.

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_postgres::types::ToSql;
use ward_store::auth::{
    AuthStore, BreakGlassRecord, ClientRecord, CodeRecord, LaunchRecord, Redeemed, RefreshRecord,
    SessionRecord, UserRecord,
};
use ward_store::{StoreError, StoreResult};

use crate::PostgresStore;
use crate::conn::{get, map_err, timed};

type Arg<'a> = &'a (dyn ToSql + Sync);

fn to_json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|_| StoreError::Internal("auth record encode".into()))
}

fn from_json<T: DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|_| StoreError::Integrity)
}

impl PostgresStore {
    /// Runs one statement; returns the number of rows it touched.
    async fn exec(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64> {
        timed(self.inner.limit, async {
            let c = get(&self.inner.primary).await?;
            let st = c.prepare_cached(sql).await.map_err(map_err)?;
            c.execute(&st, args).await.map_err(map_err)
        })
        .await
    }

    /// The JSON bodies (first column) `sql` selects.
    async fn bodies<T: DeserializeOwned>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> StoreResult<Vec<T>> {
        timed(self.inner.limit, async {
            let c = get(&self.inner.primary).await?;
            let st = c.prepare_cached(sql).await.map_err(map_err)?;
            let rows = c.query(&st, args).await.map_err(map_err)?;
            rows.iter()
                .map(|r| {
                    let text: String = r.try_get(0).map_err(|_| StoreError::Integrity)?;
                    from_json(&text)
                })
                .collect()
        })
        .await
    }

    async fn fetch<T: DeserializeOwned>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> StoreResult<Option<T>> {
        Ok(self.bodies(sql, args).await?.into_iter().next())
    }

    /// Marks `hash` used in `table` atomically and says whether this was its first use.
    async fn redeem<T: DeserializeOwned>(
        &self,
        table: &str,
        hash: &str,
        now: i64,
    ) -> StoreResult<Redeemed<T>> {
        // The UPDATE takes the row lock; a racing redeemer waits, then sees used = true.
        let fresh = format!(
            "UPDATE {table} SET used = true WHERE hash = $1 AND NOT used AND expires >= $2 \
             RETURNING body"
        );
        if let Some(r) = self.fetch(&fresh, &[&hash, &now]).await? {
            return Ok(Redeemed::Fresh(r));
        }
        let used = format!("SELECT body FROM {table} WHERE hash = $1 AND used");
        Ok(match self.fetch(&used, &[&hash]).await? {
            Some(r) => Redeemed::Reused(r),
            None => Redeemed::Unknown,
        })
    }
}

#[async_trait]
impl AuthStore for PostgresStore {
    async fn put_client(&self, c: &ClientRecord) -> StoreResult<()> {
        let sql = "INSERT INTO auth_clients(id, body) VALUES ($1, $2) \
                   ON CONFLICT (id) DO UPDATE SET body = excluded.body";
        self.exec(sql, &[&c.id, &to_json(c)?]).await.map(drop)
    }

    async fn get_client(&self, id: &str) -> StoreResult<Option<ClientRecord>> {
        self.fetch("SELECT body FROM auth_clients WHERE id = $1", &[&id])
            .await
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        self.bodies("SELECT body FROM auth_clients ORDER BY id", &[])
            .await
    }

    async fn put_user(&self, u: &UserRecord) -> StoreResult<()> {
        let sql = "INSERT INTO auth_users(id, username, body) VALUES ($1, $2, $3) \
                   ON CONFLICT (id) DO UPDATE SET username = excluded.username, body = excluded.body";
        self.exec(sql, &[&u.id, &u.username, &to_json(u)?])
            .await
            .map(drop)
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<UserRecord>> {
        self.fetch("SELECT body FROM auth_users WHERE id = $1", &[&id])
            .await
    }

    async fn find_user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        self.fetch(
            "SELECT body FROM auth_users WHERE username = $1",
            &[&username],
        )
        .await
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        self.bodies("SELECT body FROM auth_users ORDER BY username", &[])
            .await
    }

    async fn put_session(&self, s: &SessionRecord) -> StoreResult<()> {
        let sql = "INSERT INTO auth_sessions(id_hash, last_seen, body) VALUES ($1, $2, $3) \
                   ON CONFLICT (id_hash) DO UPDATE SET last_seen = excluded.last_seen, \
                   body = excluded.body";
        self.exec(sql, &[&s.id_hash, &s.last_seen, &to_json(s)?])
            .await
            .map(drop)
    }

    async fn get_session(&self, id_hash: &str) -> StoreResult<Option<SessionRecord>> {
        let sql = "SELECT body FROM auth_sessions WHERE id_hash = $1";
        self.fetch(sql, &[&id_hash]).await
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        let sql = "DELETE FROM auth_sessions WHERE id_hash = $1";
        self.exec(sql, &[&id_hash]).await.map(drop)
    }

    async fn prune_sessions(&self, before: i64) -> StoreResult<()> {
        let sql = "DELETE FROM auth_sessions WHERE last_seen < $1";
        self.exec(sql, &[&before]).await.map(drop)
    }

    async fn put_code(&self, c: &CodeRecord) -> StoreResult<()> {
        let sql = "INSERT INTO auth_codes(hash, body, expires) VALUES ($1, $2, $3)";
        self.exec(sql, &[&c.hash, &to_json(c)?, &c.expires])
            .await
            .map(drop)
    }

    async fn redeem_code(&self, hash: &str, now: i64) -> StoreResult<Redeemed<CodeRecord>> {
        let sql = "DELETE FROM auth_codes WHERE expires < $1";
        self.exec(sql, &[&(now - 86_400)]).await?;
        self.redeem("auth_codes", hash, now).await
    }

    async fn put_refresh(&self, r: &RefreshRecord) -> StoreResult<()> {
        let sql = "INSERT INTO auth_refresh(hash, grant_id, body, expires) VALUES ($1, $2, $3, $4)";
        self.exec(sql, &[&r.hash, &r.grant, &to_json(r)?, &r.expires])
            .await
            .map(drop)
    }

    async fn redeem_refresh(&self, hash: &str, now: i64) -> StoreResult<Redeemed<RefreshRecord>> {
        self.redeem("auth_refresh", hash, now).await
    }

    async fn peek_refresh(&self, hash: &str, now: i64) -> StoreResult<Option<RefreshRecord>> {
        let sql = "SELECT body FROM auth_refresh WHERE hash = $1 AND NOT used AND expires >= $2";
        self.fetch(sql, &[&hash, &now]).await
    }

    async fn revoke(&self, id: &str, until: i64) -> StoreResult<()> {
        let sql = "INSERT INTO auth_revoked(id, until) VALUES ($1, $2) \
                   ON CONFLICT (id) DO UPDATE SET until = greatest(auth_revoked.until, excluded.until)";
        self.exec(sql, &[&id, &until]).await.map(drop)
    }

    async fn any_revoked(&self, ids: &[&str], now: i64) -> StoreResult<bool> {
        let ids: Vec<&str> = ids.to_vec();
        let sql = "SELECT EXISTS (SELECT 1 FROM auth_revoked WHERE id = ANY($1) AND until >= $2)";
        timed(self.inner.limit, async {
            let c = get(&self.inner.primary).await?;
            let st = c.prepare_cached(sql).await.map_err(map_err)?;
            let row = c.query_one(&st, &[&ids, &now]).await.map_err(map_err)?;
            Ok(row.get::<_, bool>(0))
        })
        .await
    }

    async fn remember_once(&self, key: &str, until: i64, now: i64) -> StoreResult<bool> {
        self.exec("DELETE FROM auth_once WHERE until < $1", &[&now])
            .await?;
        let sql = "INSERT INTO auth_once(key, until) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        Ok(self.exec(sql, &[&key, &until]).await? == 1)
    }

    async fn add_failure(&self, key: &str, at: i64) -> StoreResult<()> {
        // Failures older than a day no longer count for any lockout window.
        let sql = "WITH old AS (DELETE FROM auth_failures WHERE key = $1 AND at < $2::bigint - 86400) \
                   INSERT INTO auth_failures(key, at) VALUES ($1, $2)";
        self.exec(sql, &[&key, &at]).await.map(drop)
    }

    async fn count_failures(&self, key: &str, since: i64) -> StoreResult<u32> {
        let sql = "SELECT count(*) FROM auth_failures WHERE key = $1 AND at >= $2";
        timed(self.inner.limit, async {
            let c = get(&self.inner.primary).await?;
            let st = c.prepare_cached(sql).await.map_err(map_err)?;
            let n: i64 = c
                .query_one(&st, &[&key, &since])
                .await
                .map_err(map_err)?
                .get(0);
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
        .await
    }

    async fn clear_failures(&self, key: &str) -> StoreResult<()> {
        self.exec("DELETE FROM auth_failures WHERE key = $1", &[&key])
            .await
            .map(drop)
    }

    async fn put_launch(&self, l: &LaunchRecord) -> StoreResult<()> {
        let sql = "INSERT INTO auth_launch(id, body, expires) VALUES ($1, $2, $3)";
        self.exec(sql, &[&l.id, &to_json(l)?, &l.expires])
            .await
            .map(drop)
    }

    async fn get_launch(&self, id: &str, now: i64) -> StoreResult<Option<LaunchRecord>> {
        let sql = "SELECT body FROM auth_launch WHERE id = $1 AND expires >= $2";
        self.fetch(sql, &[&id, &now]).await
    }

    async fn put_break_glass(&self, g: &BreakGlassRecord) -> StoreResult<()> {
        let sql = "INSERT INTO auth_break_glass(id, opened, reviewed, body) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (id) DO UPDATE SET reviewed = excluded.reviewed, body = excluded.body";
        let reviewed = g.reviewed_by.is_some();
        self.exec(sql, &[&g.id, &g.opened, &reviewed, &to_json(g)?])
            .await
            .map(drop)
    }

    async fn get_break_glass(&self, id: &str) -> StoreResult<Option<BreakGlassRecord>> {
        let sql = "SELECT body FROM auth_break_glass WHERE id = $1";
        self.fetch(sql, &[&id]).await
    }

    async fn list_break_glass(&self, pending_only: bool) -> StoreResult<Vec<BreakGlassRecord>> {
        let sql = "SELECT body FROM auth_break_glass WHERE NOT (reviewed AND $1) \
                   ORDER BY opened DESC, id";
        self.bodies(sql, &[&pending_only]).await
    }
}
