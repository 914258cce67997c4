//! Schema migrations (tracked in `PRAGMA user_version`) and the data-key table.

use rusqlite::{Connection, OptionalExtension};
use ward_crypto::KeyId;
use ward_store::{KeyRing, StoreError, StoreResult};

use crate::conn::map_err;

/// Each entry migrates from version `index` to `index + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE data_keys (
    id      INTEGER PRIMARY KEY,
    wrapped BLOB NOT NULL,
    created INTEGER NOT NULL,
    active  INTEGER NOT NULL
);

-- One row per logical resource: its current version.
CREATE TABLE resources (
    rid          INTEGER PRIMARY KEY,
    rtype        TEXT NOT NULL,
    id           TEXT NOT NULL,
    version      INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    deleted      INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    UNIQUE (rtype, id)
);

-- Every version ever written; never updated or deleted through the API.
CREATE TABLE versions (
    seq          INTEGER PRIMARY KEY,
    rid          INTEGER NOT NULL REFERENCES resources(rid),
    rtype        TEXT NOT NULL,
    id           TEXT NOT NULL,
    version      INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    method       INTEGER NOT NULL,
    body         BLOB,
    UNIQUE (rid, version)
);
CREATE INDEX versions_type_seq ON versions (rtype, seq);
",
    SEARCH_INDEX,
    AUTH_STATE,
    AUDIT,
    AUDIT_INDEXED,
    AUDIT_PENDING,
    SORT_DATE_BOUNDS,
];

/// Migration 7: each date-sort index also carries the other end of the range, so the walk of
/// a sorted date search rejects a row by the query's own date bounds from the index entry
/// alone (docs/design/search.md "Date sort bounded by its own filter"):
/// `Observation?date=ge2017&date=lt2018&_sort=-date` went from 91 ms to 2.5 ms on 100,000
/// Observations.
const SORT_DATE_BOUNDS: &str = r"
DROP INDEX idx_sort_date_lo;
DROP INDEX idx_sort_date_hi;
CREATE INDEX idx_sort_date_lo ON idx_sort_date (pkey, lo, rid, hi);
CREATE INDEX idx_sort_date_hi ON idx_sort_date (pkey, hi, rid, lo);
";

/// Migration 6: the audit trail of record moves to a file of its own
/// (docs/design/011-audit-file.md). A write's AuditEvent commits with the write as a pending
/// row here (sealed like a version body) and is chained into the trail after the commit; the
/// projector deletes it once the record is projected. The rows of `audit_chain` become the
/// projection's map from chain position to AuditEvent version; the trail itself (and its
/// checkpoints) are moved by `crate::trail::pair` when the store opens.
const AUDIT_PENDING: &str = r"
CREATE TABLE audit_pending (
    id       TEXT PRIMARY KEY,
    recorded INTEGER NOT NULL,
    body     BLOB NOT NULL,
    patients TEXT
) WITHOUT ROWID;
";

/// Migration 5: the deferred AuditEvent index's position (docs/design/007-audit.md "Deferred
/// index"). A database written before had every AuditEvent indexed with its record, so the
/// position starts at the chain's head (0 on a new database).
const AUDIT_INDEXED: &str = r"
INSERT OR IGNORE INTO meta(name, value)
    SELECT 'audit-indexed-through', CAST(CAST(COALESCE(MAX(seq), 0) AS TEXT) AS BLOB)
    FROM audit_chain;
";

/// Migration 4: the Patient compartment of each version, and the audit chain
/// (docs/design/007-audit.md): one row per AuditEvent version, linked by SHA-256 hashes, plus
/// signed checkpoints over the chain head.
const AUDIT: &str = r"
ALTER TABLE versions ADD COLUMN patients TEXT;
CREATE TABLE audit_chain (
    seq       INTEGER PRIMARY KEY,
    vseq      INTEGER NOT NULL UNIQUE,
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL
);
CREATE TABLE audit_checkpoints (
    seq  INTEGER PRIMARY KEY,
    body TEXT NOT NULL
);
";

/// Migration 2: search index tables (docs/design/search.md). Rows belong to a resource's
/// current version (`rid`); `pkey` names the parameter and type; `grp` groups the
/// components of one composite value.
const SEARCH_INDEX: &str = r"
CREATE TABLE idx_string (pkey INTEGER NOT NULL, norm TEXT NOT NULL, exact TEXT NOT NULL,
    rid INTEGER NOT NULL, grp INTEGER);
CREATE INDEX idx_string_val ON idx_string (pkey, norm, rid);
CREATE INDEX idx_string_rid ON idx_string (rid, pkey);

CREATE TABLE idx_token (pkey INTEGER NOT NULL, code TEXT NOT NULL, system TEXT,
    rid INTEGER NOT NULL, grp INTEGER);
CREATE INDEX idx_token_val ON idx_token (pkey, code, system, rid);
CREATE INDEX idx_token_rid ON idx_token (rid, pkey);

CREATE TABLE idx_ref (pkey INTEGER NOT NULL, tid TEXT NOT NULL, ttype TEXT, ver TEXT,
    rid INTEGER NOT NULL, grp INTEGER);
CREATE INDEX idx_ref_val ON idx_ref (pkey, tid, ttype, rid);
CREATE INDEX idx_ref_rid ON idx_ref (rid, pkey);

CREATE TABLE idx_date (pkey INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL,
    rid INTEGER NOT NULL, grp INTEGER);
CREATE INDEX idx_date_lo ON idx_date (pkey, lo, hi, rid);
CREATE INDEX idx_date_hi ON idx_date (pkey, hi, lo, rid);
CREATE INDEX idx_date_rid ON idx_date (rid, pkey);

CREATE TABLE idx_number (pkey INTEGER NOT NULL, value REAL NOT NULL, lo REAL NOT NULL,
    hi REAL NOT NULL, rid INTEGER NOT NULL, grp INTEGER);
CREATE INDEX idx_number_val ON idx_number (pkey, value, rid);
CREATE INDEX idx_number_rid ON idx_number (rid, pkey);

CREATE TABLE idx_quantity (pkey INTEGER NOT NULL, value REAL NOT NULL, lo REAL NOT NULL,
    hi REAL NOT NULL, system TEXT, code TEXT, unit TEXT, rid INTEGER NOT NULL, grp INTEGER);
CREATE INDEX idx_quantity_val ON idx_quantity (pkey, value, rid);
CREATE INDEX idx_quantity_rid ON idx_quantity (rid, pkey);

CREATE TABLE idx_uri (pkey INTEGER NOT NULL, uri TEXT NOT NULL, rid INTEGER NOT NULL,
    grp INTEGER);
CREATE INDEX idx_uri_val ON idx_uri (pkey, uri, rid);
CREATE INDEX idx_uri_rid ON idx_uri (rid, pkey);

CREATE TABLE idx_sort_date (rid INTEGER NOT NULL, pkey INTEGER NOT NULL, lo INTEGER NOT NULL,
    hi INTEGER NOT NULL, PRIMARY KEY (rid, pkey)) WITHOUT ROWID;
CREATE INDEX idx_sort_date_lo ON idx_sort_date (pkey, lo, rid);
CREATE INDEX idx_sort_date_hi ON idx_sort_date (pkey, hi, rid);
";

/// Security state of the authorization server (`ward_store::auth`). Records are JSON bodies;
/// the columns beside them are what the atomic operations and expiry need.
const AUTH_STATE: &str = r"
CREATE TABLE auth_clients (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE auth_users (
    id       TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    body     TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE auth_sessions (id_hash TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE auth_codes (
    hash    TEXT PRIMARY KEY,
    body    TEXT NOT NULL,
    expires INTEGER NOT NULL,
    used    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE auth_refresh (
    hash     TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    body     TEXT NOT NULL,
    expires  INTEGER NOT NULL,
    used     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX auth_refresh_grant ON auth_refresh (grant_id);
CREATE TABLE auth_revoked (id TEXT PRIMARY KEY, until INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE auth_once (key TEXT PRIMARY KEY, until INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE auth_failures (key TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX auth_failures_key ON auth_failures (key, at);
CREATE TABLE auth_launch (id TEXT PRIMARY KEY, body TEXT NOT NULL, expires INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE auth_break_glass (
    id       TEXT PRIMARY KEY,
    opened   INTEGER NOT NULL,
    reviewed INTEGER NOT NULL,
    body     TEXT NOT NULL
) WITHOUT ROWID;
";

/// A `meta` value, as this connection (and its open transaction, if any) sees it.
pub(crate) fn get_meta(c: &Connection, name: &str) -> StoreResult<Option<Vec<u8>>> {
    c.prepare_cached("SELECT value FROM meta WHERE name = ?1")
        .map_err(map_err)?
        .query_row([name], |r| r.get::<_, Vec<u8>>(0))
        .optional()
        .map_err(map_err)
}

/// Sets a `meta` value.
pub(crate) fn put_meta(c: &Connection, name: &str, value: &[u8]) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO meta(name, value) VALUES (?1, ?2) \
         ON CONFLICT(name) DO UPDATE SET value = excluded.value",
    )
    .map_err(map_err)?
    .execute(rusqlite::params![name, value])
    .map_err(map_err)?;
    Ok(())
}

/// Applies pending migrations atomically.
pub(crate) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    apply(conn, MIGRATIONS)
}

/// Applies the `migrations` a database (tracked in `PRAGMA user_version`) has not had yet, in
/// one transaction; a database newer than `migrations` is refused.
pub(crate) fn apply(conn: &mut Connection, migrations: &[&str]) -> StoreResult<()> {
    let supported = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(map_err)?;
    if current > supported {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported,
        });
    }
    let tx = conn.transaction().map_err(map_err)?;
    for (i, sql) in migrations
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        tx.execute_batch(sql).map_err(map_err)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
            .map_err(map_err)?;
    }
    tx.commit().map_err(map_err)
}

/// Loads every data key into the ring, creating the first one on a new database.
pub(crate) fn load_keys(conn: &mut Connection, ring: &KeyRing) -> StoreResult<()> {
    let keys = {
        let mut st = conn
            .prepare("SELECT id, wrapped, active FROM data_keys")
            .map_err(map_err)?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, u32>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, bool>(2)?,
                ))
            })
            .map_err(map_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(map_err)?
    };
    if keys.is_empty() {
        let id = KeyId(1);
        let wrapped = ring.new_wrapped_key(id)?;
        conn.execute(
            "INSERT INTO data_keys(id, wrapped, created, active) VALUES (?1, ?2, unixepoch(), 1)",
            rusqlite::params![id.0, wrapped],
        )
        .map_err(map_err)?;
        return ring.install(id, &wrapped, true);
    }
    for (id, wrapped, active) in keys {
        ring.install(KeyId(id), &wrapped, active)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn an_older_database_starts_its_audit_index_at_the_chain_head() {
        let mut c = Connection::open_in_memory().unwrap();
        let tx = c.transaction().unwrap();
        for sql in &MIGRATIONS[..4] {
            tx.execute_batch(sql).unwrap();
        }
        tx.execute_batch("PRAGMA user_version = 4").unwrap();
        tx.commit().unwrap();
        // a version-4 trail: its AuditEvents were indexed with their records
        c.execute_batch(
            "INSERT INTO audit_chain(seq, vseq, prev_hash, hash) VALUES \
             (1, 10, zeroblob(32), zeroblob(32)), (2, 11, zeroblob(32), zeroblob(32)), \
             (3, 12, zeroblob(32), zeroblob(32))",
        )
        .unwrap();
        migrate(&mut c).unwrap();
        assert_eq!(crate::audit::indexed(&c).unwrap(), 3);
        assert_eq!(crate::audit::projected_range(&c).unwrap(), Some((1, 3)));

        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        assert_eq!(crate::audit::indexed(&fresh).unwrap(), 0);
        assert_eq!(crate::audit::projected_range(&fresh).unwrap(), None);
        // a write's pending record table exists from migration 6 on
        fresh
            .execute_batch("INSERT INTO audit_pending(id, recorded, body) VALUES ('a', 1, x'00')")
            .unwrap();
    }
}
