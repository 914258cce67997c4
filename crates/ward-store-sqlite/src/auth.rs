//! The authorization server's security state (`ward_store::auth`) in SQLite: JSON record bodies
//! plus the few columns that atomic redemption, expiry and counting need.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use ward_store::auth::{
    AuthStore, BreakGlassRecord, ClientRecord, CodeRecord, LaunchRecord, Redeemed, RefreshRecord,
    SessionRecord, UserRecord,
};
use ward_store::{StoreError, StoreResult};

use crate::SqliteStore;
use crate::conn::map_err;

fn to_json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|_| StoreError::Internal("auth record encode".into()))
}

fn from_json<T: DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|_| StoreError::Integrity)
}

/// One JSON body selected by `sql` with parameters `p`.
fn one<T: DeserializeOwned>(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> StoreResult<Option<T>> {
    let text: Option<String> = c
        .prepare_cached(sql)
        .map_err(map_err)?
        .query_row(p, |r| r.get(0))
        .optional()
        .map_err(map_err)?;
    text.map(|t| from_json(&t)).transpose()
}

/// Every JSON body selected by `sql`.
fn all<T: DeserializeOwned>(c: &Connection, sql: &str) -> StoreResult<Vec<T>> {
    let mut st = c.prepare_cached(sql).map_err(map_err)?;
    let rows = st
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(map_err)?;
    rows.map(|r| r.map_err(map_err).and_then(|t| from_json(&t)))
        .collect()
}

/// Marks a row used in `table` and says whether this was its first use.
fn redeem<T: DeserializeOwned>(
    c: &Connection,
    table: &str,
    hash: &str,
    now: i64,
) -> StoreResult<Redeemed<T>> {
    let row: Option<(String, i64, bool)> = c
        .prepare_cached(&format!(
            "SELECT body, expires, used FROM {table} WHERE hash = ?1"
        ))
        .map_err(map_err)?
        .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .map_err(map_err)?;
    let Some((body, expires, used)) = row else {
        return Ok(Redeemed::Unknown);
    };
    let record = from_json(&body)?;
    if used {
        return Ok(Redeemed::Reused(record));
    }
    if expires < now {
        return Ok(Redeemed::Unknown);
    }
    c.prepare_cached(&format!("UPDATE {table} SET used = 1 WHERE hash = ?1"))
        .map_err(map_err)?
        .execute([hash])
        .map_err(map_err)?;
    Ok(Redeemed::Fresh(record))
}

impl SqliteStore {
    async fn exec(&self, sql: &'static str, args: Vec<rusqlite::types::Value>) -> StoreResult<()> {
        self.inner
            .pool
            .write(move |c| {
                c.prepare_cached(sql)
                    .map_err(map_err)?
                    .execute(rusqlite::params_from_iter(args))
                    .map_err(map_err)?;
                Ok(())
            })
            .await
    }

    async fn fetch<T: DeserializeOwned + Send + 'static>(
        &self,
        sql: &'static str,
        args: Vec<rusqlite::types::Value>,
    ) -> StoreResult<Option<T>> {
        self.inner
            .pool
            .read(move |c| one(c, sql, rusqlite::params_from_iter(args)))
            .await
    }

    async fn fetch_all<T: DeserializeOwned + Send + 'static>(
        &self,
        sql: &'static str,
    ) -> StoreResult<Vec<T>> {
        self.inner.pool.read(move |c| all(c, sql)).await
    }
}

fn text(s: &str) -> rusqlite::types::Value {
    rusqlite::types::Value::Text(s.to_owned())
}

fn int(i: i64) -> rusqlite::types::Value {
    rusqlite::types::Value::Integer(i)
}

#[async_trait]
impl AuthStore for SqliteStore {
    async fn put_client(&self, c: &ClientRecord) -> StoreResult<()> {
        let sql = "INSERT INTO auth_clients(id, body) VALUES (?1, ?2) \
                   ON CONFLICT(id) DO UPDATE SET body = excluded.body";
        self.exec(sql, vec![text(&c.id), text(&to_json(c)?)]).await
    }

    async fn get_client(&self, id: &str) -> StoreResult<Option<ClientRecord>> {
        self.fetch(
            "SELECT body FROM auth_clients WHERE id = ?1",
            vec![text(id)],
        )
        .await
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        self.fetch_all("SELECT body FROM auth_clients ORDER BY id")
            .await
    }

    async fn put_user(&self, u: &UserRecord) -> StoreResult<()> {
        let sql = "INSERT INTO auth_users(id, username, body) VALUES (?1, ?2, ?3) \
                   ON CONFLICT(id) DO UPDATE SET username = excluded.username, body = excluded.body";
        self.exec(
            sql,
            vec![text(&u.id), text(&u.username), text(&to_json(u)?)],
        )
        .await
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<UserRecord>> {
        self.fetch("SELECT body FROM auth_users WHERE id = ?1", vec![text(id)])
            .await
    }

    async fn find_user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let sql = "SELECT body FROM auth_users WHERE username = ?1";
        self.fetch(sql, vec![text(username)]).await
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        self.fetch_all("SELECT body FROM auth_users ORDER BY username")
            .await
    }

    async fn put_session(&self, s: &SessionRecord) -> StoreResult<()> {
        let sql = "INSERT INTO auth_sessions(id_hash, body) VALUES (?1, ?2) \
                   ON CONFLICT(id_hash) DO UPDATE SET body = excluded.body";
        self.exec(sql, vec![text(&s.id_hash), text(&to_json(s)?)])
            .await
    }

    async fn get_session(&self, id_hash: &str) -> StoreResult<Option<SessionRecord>> {
        let sql = "SELECT body FROM auth_sessions WHERE id_hash = ?1";
        self.fetch(sql, vec![text(id_hash)]).await
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        let sql = "DELETE FROM auth_sessions WHERE id_hash = ?1";
        self.exec(sql, vec![text(id_hash)]).await
    }

    async fn prune_sessions(&self, before: i64) -> StoreResult<()> {
        let sql = "DELETE FROM auth_sessions WHERE json_extract(body, '$.last_seen') < ?1";
        self.exec(sql, vec![int(before)]).await
    }

    async fn put_code(&self, c: &CodeRecord) -> StoreResult<()> {
        let sql = "INSERT INTO auth_codes(hash, body, expires) VALUES (?1, ?2, ?3)";
        self.exec(sql, vec![text(&c.hash), text(&to_json(c)?), int(c.expires)])
            .await
    }

    async fn redeem_code(&self, hash: &str, now: i64) -> StoreResult<Redeemed<CodeRecord>> {
        let hash = hash.to_owned();
        self.inner
            .pool
            .write(move |c| {
                c.execute("DELETE FROM auth_codes WHERE expires < ?1", [now - 86_400])
                    .map_err(map_err)?;
                redeem(c, "auth_codes", &hash, now)
            })
            .await
    }

    async fn put_refresh(&self, r: &RefreshRecord) -> StoreResult<()> {
        let sql = "INSERT INTO auth_refresh(hash, grant_id, body, expires) VALUES (?1, ?2, ?3, ?4)";
        let args = vec![
            text(&r.hash),
            text(&r.grant),
            text(&to_json(r)?),
            int(r.expires),
        ];
        self.exec(sql, args).await
    }

    async fn redeem_refresh(&self, hash: &str, now: i64) -> StoreResult<Redeemed<RefreshRecord>> {
        let hash = hash.to_owned();
        self.inner
            .pool
            .write(move |c| redeem(c, "auth_refresh", &hash, now))
            .await
    }

    async fn peek_refresh(&self, hash: &str, now: i64) -> StoreResult<Option<RefreshRecord>> {
        let sql = "SELECT body FROM auth_refresh WHERE hash = ?1 AND used = 0 AND expires >= ?2";
        self.fetch(sql, vec![text(hash), int(now)]).await
    }

    async fn revoke(&self, id: &str, until: i64) -> StoreResult<()> {
        let sql = "INSERT INTO auth_revoked(id, until) VALUES (?1, ?2) \
                   ON CONFLICT(id) DO UPDATE SET until = max(until, excluded.until)";
        self.exec(sql, vec![text(id), int(until)]).await
    }

    async fn any_revoked(&self, ids: &[&str], now: i64) -> StoreResult<bool> {
        let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        self.inner
            .pool
            .read(move |c| {
                let mut st = c
                    .prepare_cached("SELECT 1 FROM auth_revoked WHERE id = ?1 AND until >= ?2")
                    .map_err(map_err)?;
                for id in &ids {
                    if st.exists(params![id, now]).map_err(map_err)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            })
            .await
    }

    async fn remember_once(&self, key: &str, until: i64, now: i64) -> StoreResult<bool> {
        let key = key.to_owned();
        self.inner
            .pool
            .write(move |c| {
                c.prepare_cached("DELETE FROM auth_once WHERE until < ?1")
                    .map_err(map_err)?
                    .execute([now])
                    .map_err(map_err)?;
                let n = c
                    .prepare_cached(
                        "INSERT INTO auth_once(key, until) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    )
                    .map_err(map_err)?
                    .execute(params![key, until])
                    .map_err(map_err)?;
                Ok(n == 1)
            })
            .await
    }

    async fn add_failure(&self, key: &str, at: i64) -> StoreResult<()> {
        let key = key.to_owned();
        self.inner
            .pool
            .write(move |c| {
                // Failures older than a day no longer count for any lockout window.
                c.prepare_cached("DELETE FROM auth_failures WHERE key = ?1 AND at < ?2")
                    .map_err(map_err)?
                    .execute(params![key, at - 86_400])
                    .map_err(map_err)?;
                c.prepare_cached("INSERT INTO auth_failures(key, at) VALUES (?1, ?2)")
                    .map_err(map_err)?
                    .execute(params![key, at])
                    .map_err(map_err)?;
                Ok(())
            })
            .await
    }

    async fn count_failures(&self, key: &str, since: i64) -> StoreResult<u32> {
        let key = key.to_owned();
        self.inner
            .pool
            .read(move |c| {
                let n: i64 = c
                    .prepare_cached(
                        "SELECT count(*) FROM auth_failures WHERE key = ?1 AND at >= ?2",
                    )
                    .map_err(map_err)?
                    .query_row(params![key, since], |r| r.get(0))
                    .map_err(map_err)?;
                Ok(u32::try_from(n).unwrap_or(u32::MAX))
            })
            .await
    }

    async fn clear_failures(&self, key: &str) -> StoreResult<()> {
        self.exec("DELETE FROM auth_failures WHERE key = ?1", vec![text(key)])
            .await
    }

    async fn put_launch(&self, l: &LaunchRecord) -> StoreResult<()> {
        let sql = "INSERT INTO auth_launch(id, body, expires) VALUES (?1, ?2, ?3)";
        self.exec(sql, vec![text(&l.id), text(&to_json(l)?), int(l.expires)])
            .await
    }

    async fn get_launch(&self, id: &str, now: i64) -> StoreResult<Option<LaunchRecord>> {
        let sql = "SELECT body FROM auth_launch WHERE id = ?1 AND expires >= ?2";
        self.fetch(sql, vec![text(id), int(now)]).await
    }

    async fn put_break_glass(&self, g: &BreakGlassRecord) -> StoreResult<()> {
        let sql = "INSERT INTO auth_break_glass(id, opened, reviewed, body) VALUES (?1, ?2, ?3, ?4) \
                   ON CONFLICT(id) DO UPDATE SET reviewed = excluded.reviewed, body = excluded.body";
        let reviewed = int(i64::from(g.reviewed_by.is_some()));
        let args = vec![text(&g.id), int(g.opened), reviewed, text(&to_json(g)?)];
        self.exec(sql, args).await
    }

    async fn get_break_glass(&self, id: &str) -> StoreResult<Option<BreakGlassRecord>> {
        let sql = "SELECT body FROM auth_break_glass WHERE id = ?1";
        self.fetch(sql, vec![text(id)]).await
    }

    async fn list_break_glass(&self, pending_only: bool) -> StoreResult<Vec<BreakGlassRecord>> {
        if pending_only {
            self.fetch_all(
                "SELECT body FROM auth_break_glass WHERE reviewed = 0 ORDER BY opened DESC, id",
            )
            .await
        } else {
            self.fetch_all("SELECT body FROM auth_break_glass ORDER BY opened DESC, id")
                .await
        }
    }
}
