//! Versioned schema migrations, applied under a session advisory lock so that several nodes
//! starting at once migrate exactly once; and the data-key table.
//!
//! The tables mirror the SQLite schema (`docs/design/004-storage.md`, `search.md`): integers
//! are `BIGINT`, reals `DOUBLE PRECISION`, and every text column is `COLLATE "C"` so that
//! comparisons and sorting are by code point, exactly as SQLite's `BINARY` collation.

use deadpool_postgres::Object;
use ward_crypto::KeyId;
use ward_store::{KeyRing, StoreError, StoreResult};

use crate::conn::map_err;

/// Second key of the advisory locks (the first is `hashtext(current_schema())`, so that
/// installations in different schemas of one database do not contend).
pub(crate) const LOCK_MIGRATE: i32 = 1;
/// The write lock: held by every write transaction from its start to its end.
pub(crate) const LOCK_WRITE: i32 = 2;
/// The projection lock: held by the AuditEvent projection's transactions, and by the
/// writers that change what it writes (a purge of the trail, a reindex), which take it after
/// the write lock. The projection does not take the write lock: it only adds index rows to
/// AuditEvents the audit append wrote already, and moves its own position.
pub(crate) const LOCK_PROJECT: i32 = 3;

/// Each entry migrates from version `index` to `index + 1`.
const MIGRATIONS: &[(&str, &str)] = &[
    ("resources, versions, metadata, data keys", INITIAL),
    ("search index tables", SEARCH_INDEX),
    ("authorization server state", AUTH_STATE),
    ("patient compartment of versions, audit chain", AUDIT),
    ("position of the deferred AuditEvent index", AUDIT_INDEXED),
    (
        "both ends of the range in the date-sort indexes",
        SORT_DATE_BOUNDS,
    ),
];

/// Migration 6: each date-sort index also carries the other end of the range, so the walk of
/// a sorted date search rejects a row by the query's own date bounds from the index entry
/// alone (docs/design/search.md "Date sort bounded by its own filter").
const SORT_DATE_BOUNDS: &str = r#"
DROP INDEX idx_sort_date_lo;
DROP INDEX idx_sort_date_hi;
CREATE INDEX idx_sort_date_lo ON idx_sort_date (pkey, lo, rid, hi);
CREATE INDEX idx_sort_date_hi ON idx_sort_date (pkey, hi, rid, lo);
"#;

/// A `meta` value, as this connection (and its open transaction, if any) sees it.
pub(crate) async fn get_meta(c: &Object, name: &str) -> StoreResult<Option<Vec<u8>>> {
    let st = c
        .prepare_cached("SELECT value FROM meta WHERE name = $1")
        .await
        .map_err(map_err)?;
    Ok(c.query_opt(&st, &[&name])
        .await
        .map_err(map_err)?
        .map(|r| r.get(0)))
}

/// Sets a `meta` value.
pub(crate) async fn put_meta(c: &Object, name: &str, value: &[u8]) -> StoreResult<()> {
    let st = c
        .prepare_cached(
            "INSERT INTO meta(name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .await
        .map_err(map_err)?;
    c.execute(&st, &[&name, &value]).await.map_err(map_err)?;
    Ok(())
}

/// The deferred AuditEvent index's position (`docs/design/007-audit.md` "Deferred index"). A
/// database written before had every AuditEvent indexed with its record, so the position
/// starts at the chain's head (0 on a new database).
const AUDIT_INDEXED: &str = r#"
INSERT INTO meta(name, value)
    SELECT 'audit-indexed-through', convert_to(COALESCE(MAX(seq), 0)::text, 'UTF8')
    FROM audit_chain
ON CONFLICT (name) DO NOTHING;
"#;

/// The audit chain (`docs/design/007-audit.md`): one row per AuditEvent version, linked by
/// SHA-256 hashes, plus signed checkpoints. Appends hold the write lock, so the chain is one
/// sequence however many nodes append.
const AUDIT: &str = r#"
ALTER TABLE versions ADD COLUMN patients TEXT;
CREATE TABLE audit_chain (
    seq       BIGINT PRIMARY KEY,
    vseq      BIGINT NOT NULL UNIQUE,
    prev_hash BYTEA NOT NULL,
    hash      BYTEA NOT NULL
);
CREATE TABLE audit_checkpoints (seq BIGINT PRIMARY KEY, body TEXT NOT NULL);
"#;

const INITIAL: &str = r#"
CREATE TABLE meta (name TEXT COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE data_keys (
    id      BIGINT PRIMARY KEY,
    wrapped BYTEA NOT NULL,
    created BIGINT NOT NULL,
    active  BOOLEAN NOT NULL
);
CREATE SEQUENCE resources_rid;
CREATE SEQUENCE versions_seq;
-- One row per logical resource: its current version.
CREATE TABLE resources (
    rid          BIGINT PRIMARY KEY DEFAULT nextval('resources_rid'),
    rtype        TEXT COLLATE "C" NOT NULL,
    id           TEXT COLLATE "C" NOT NULL,
    version      BIGINT NOT NULL,
    last_updated BIGINT NOT NULL,
    deleted      SMALLINT NOT NULL,
    seq          BIGINT NOT NULL,
    UNIQUE (rtype, id)
);
-- Every version ever written; never updated or deleted through the API.
CREATE TABLE versions (
    seq          BIGINT PRIMARY KEY,
    rid          BIGINT NOT NULL REFERENCES resources(rid),
    rtype        TEXT COLLATE "C" NOT NULL,
    id           TEXT COLLATE "C" NOT NULL,
    version      BIGINT NOT NULL,
    last_updated BIGINT NOT NULL,
    method       SMALLINT NOT NULL,
    body         BYTEA,
    UNIQUE (rid, version)
);
CREATE INDEX versions_type_seq ON versions (rtype, seq);
"#;

const SEARCH_INDEX: &str = r#"
CREATE TABLE idx_string (pkey BIGINT NOT NULL, norm TEXT COLLATE "C" NOT NULL,
    exact TEXT COLLATE "C" NOT NULL, rid BIGINT NOT NULL, grp BIGINT);
CREATE INDEX idx_string_val ON idx_string (pkey, norm, rid);
CREATE INDEX idx_string_exact ON idx_string (pkey, exact, rid);
CREATE INDEX idx_string_rid ON idx_string (rid, pkey);

CREATE TABLE idx_token (pkey BIGINT NOT NULL, code TEXT COLLATE "C" NOT NULL,
    system TEXT COLLATE "C", rid BIGINT NOT NULL, grp BIGINT);
CREATE INDEX idx_token_val ON idx_token (pkey, code, system, rid);
CREATE INDEX idx_token_rid ON idx_token (rid, pkey);

CREATE TABLE idx_ref (pkey BIGINT NOT NULL, tid TEXT COLLATE "C" NOT NULL,
    ttype TEXT COLLATE "C", ver TEXT COLLATE "C", rid BIGINT NOT NULL, grp BIGINT);
CREATE INDEX idx_ref_val ON idx_ref (pkey, tid, ttype, rid);
CREATE INDEX idx_ref_rid ON idx_ref (rid, pkey);

CREATE TABLE idx_date (pkey BIGINT NOT NULL, lo BIGINT NOT NULL, hi BIGINT NOT NULL,
    rid BIGINT NOT NULL, grp BIGINT);
CREATE INDEX idx_date_lo ON idx_date (pkey, lo, hi, rid);
CREATE INDEX idx_date_hi ON idx_date (pkey, hi, lo, rid);
CREATE INDEX idx_date_rid ON idx_date (rid, pkey);

CREATE TABLE idx_number (pkey BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL,
    lo DOUBLE PRECISION NOT NULL, hi DOUBLE PRECISION NOT NULL, rid BIGINT NOT NULL, grp BIGINT);
CREATE INDEX idx_number_val ON idx_number (pkey, value, rid);
CREATE INDEX idx_number_rid ON idx_number (rid, pkey);

CREATE TABLE idx_quantity (pkey BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL,
    lo DOUBLE PRECISION NOT NULL, hi DOUBLE PRECISION NOT NULL, system TEXT COLLATE "C",
    code TEXT COLLATE "C", unit TEXT COLLATE "C", rid BIGINT NOT NULL, grp BIGINT);
CREATE INDEX idx_quantity_val ON idx_quantity (pkey, value, rid);
CREATE INDEX idx_quantity_rid ON idx_quantity (rid, pkey);

CREATE TABLE idx_uri (pkey BIGINT NOT NULL, uri TEXT COLLATE "C" NOT NULL, rid BIGINT NOT NULL,
    grp BIGINT);
CREATE INDEX idx_uri_val ON idx_uri (pkey, uri, rid);
CREATE INDEX idx_uri_rid ON idx_uri (rid, pkey);

CREATE TABLE idx_sort_date (rid BIGINT NOT NULL, pkey BIGINT NOT NULL, lo BIGINT NOT NULL,
    hi BIGINT NOT NULL, PRIMARY KEY (rid, pkey));
CREATE INDEX idx_sort_date_lo ON idx_sort_date (pkey, lo, rid);
CREATE INDEX idx_sort_date_hi ON idx_sort_date (pkey, hi, rid);
"#;

const AUTH_STATE: &str = r#"
CREATE TABLE auth_clients (id TEXT COLLATE "C" PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE auth_users (
    id       TEXT COLLATE "C" PRIMARY KEY,
    username TEXT COLLATE "C" NOT NULL UNIQUE,
    body     TEXT NOT NULL
);
CREATE TABLE auth_sessions (id_hash TEXT COLLATE "C" PRIMARY KEY, last_seen BIGINT NOT NULL,
    body TEXT NOT NULL);
CREATE INDEX auth_sessions_seen ON auth_sessions (last_seen);
CREATE TABLE auth_codes (
    hash    TEXT COLLATE "C" PRIMARY KEY,
    body    TEXT NOT NULL,
    expires BIGINT NOT NULL,
    used    BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX auth_codes_expires ON auth_codes (expires);
CREATE TABLE auth_refresh (
    hash     TEXT COLLATE "C" PRIMARY KEY,
    grant_id TEXT COLLATE "C" NOT NULL,
    body     TEXT NOT NULL,
    expires  BIGINT NOT NULL,
    used     BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX auth_refresh_grant ON auth_refresh (grant_id);
CREATE TABLE auth_revoked (id TEXT COLLATE "C" PRIMARY KEY, until BIGINT NOT NULL);
CREATE TABLE auth_once (key TEXT COLLATE "C" PRIMARY KEY, until BIGINT NOT NULL);
CREATE INDEX auth_once_until ON auth_once (until);
CREATE TABLE auth_failures (key TEXT COLLATE "C" NOT NULL, at BIGINT NOT NULL);
CREATE INDEX auth_failures_key ON auth_failures (key, at);
CREATE TABLE auth_launch (id TEXT COLLATE "C" PRIMARY KEY, body TEXT NOT NULL,
    expires BIGINT NOT NULL);
CREATE TABLE auth_break_glass (
    id       TEXT COLLATE "C" PRIMARY KEY,
    opened   BIGINT NOT NULL,
    reviewed BOOLEAN NOT NULL,
    body     TEXT NOT NULL
);
"#;

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// What `ward db status` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The version the database is at (0: no Ward schema yet).
    pub current: i64,
    /// The version this binary writes.
    pub supported: i64,
    /// `(version, description)` of each migration not applied yet.
    pub pending: Vec<(i64, String)>,
    /// True when the database holds data keys (an initialised installation).
    pub initialised: bool,
}

const TRACKING: &str = r#"CREATE TABLE IF NOT EXISTS ward_schema (
    version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL
)"#;

async fn current_version(c: &Object) -> StoreResult<i64> {
    let row = c
        .query_one(
            "SELECT to_regclass('ward_schema') IS NOT NULL, \
             to_regclass('data_keys') IS NOT NULL",
            &[],
        )
        .await
        .map_err(map_err)?;
    let has_tracking: bool = row.get(0);
    if !has_tracking {
        return Ok(0);
    }
    let v: i64 = c
        .query_one("SELECT coalesce(max(version), 0) FROM ward_schema", &[])
        .await
        .map_err(map_err)?
        .get(0);
    Ok(v)
}

/// The schema state, without changing anything.
pub(crate) async fn status(c: &Object) -> StoreResult<SchemaStatus> {
    let current = current_version(c).await?;
    let pending = MIGRATIONS
        .iter()
        .enumerate()
        .map(|(i, (d, _))| (i64::try_from(i).unwrap_or(i64::MAX) + 1, (*d).to_owned()))
        .filter(|(v, _)| *v > current)
        .collect();
    let initialised = current >= 1
        && c.query_one("SELECT EXISTS (SELECT 1 FROM data_keys)", &[])
            .await
            .map_err(map_err)?
            .get::<_, bool>(0);
    Ok(SchemaStatus {
        current,
        supported: SCHEMA_VERSION,
        pending,
        initialised,
    })
}

/// Applies pending migrations (each in its own transaction) and loads the data keys (creating
/// the first), all under the migration lock. Returns the versions applied.
pub(crate) async fn migrate(c: &Object, ring: Option<&KeyRing>) -> StoreResult<Vec<i64>> {
    c.execute(
        "SELECT pg_advisory_lock(hashtext(current_schema()), $1)",
        &[&LOCK_MIGRATE],
    )
    .await
    .map_err(map_err)?;
    let result = migrate_locked(c, ring).await;
    let unlock = c
        .execute(
            "SELECT pg_advisory_unlock(hashtext(current_schema()), $1)",
            &[&LOCK_MIGRATE],
        )
        .await
        .map_err(map_err);
    let applied = result?;
    unlock?;
    Ok(applied)
}

async fn migrate_locked(c: &Object, ring: Option<&KeyRing>) -> StoreResult<Vec<i64>> {
    c.batch_execute(TRACKING).await.map_err(map_err)?;
    let current = current_version(c).await?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    let mut applied = Vec::new();
    for (i, (desc, sql)) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(i).unwrap_or(i64::MAX) + 1;
        if version <= current {
            continue;
        }
        c.batch_execute("BEGIN").await.map_err(map_err)?;
        let step = async {
            c.batch_execute(sql).await.map_err(map_err)?;
            c.execute(
                "INSERT INTO ward_schema(version, description, applied_at) VALUES ($1, $2, now())",
                &[&version, desc],
            )
            .await
            .map_err(map_err)?;
            c.batch_execute("COMMIT").await.map_err(map_err)
        };
        if let Err(e) = step.await {
            let _ = c.batch_execute("ROLLBACK").await;
            return Err(e);
        }
        tracing::info!(version, "applied a schema migration");
        applied.push(version);
    }
    if let Some(ring) = ring {
        load_keys(c, ring).await?;
    }
    Ok(applied)
}

/// Loads every data key into the ring, creating the first one on a new database (callers
/// hold the migration lock, so two nodes never create two first keys).
pub(crate) async fn load_keys(c: &Object, ring: &KeyRing) -> StoreResult<()> {
    let rows = c
        .query("SELECT id, wrapped, active FROM data_keys ORDER BY id", &[])
        .await
        .map_err(map_err)?;
    if rows.is_empty() {
        let id = KeyId(1);
        let wrapped = ring.new_wrapped_key(id)?;
        c.execute(
            "INSERT INTO data_keys(id, wrapped, created, active) \
             VALUES ($1, $2, extract(epoch from now())::bigint, true)",
            &[&i64::from(id.0), &wrapped],
        )
        .await
        .map_err(map_err)?;
        return ring.install(id, &wrapped, true);
    }
    for row in rows {
        let id: i64 = row.get(0);
        let wrapped: Vec<u8> = row.get(1);
        let active: bool = row.get(2);
        let id = u32::try_from(id).map_err(|_| StoreError::Integrity)?;
        ring.install(KeyId(id), &wrapped, active)?;
    }
    Ok(())
}
