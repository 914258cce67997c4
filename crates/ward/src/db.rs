//! `ward db migrate` and `ward db status`: the PostgreSQL schema, without starting a server.
//! Migrations run under the same advisory lock as at start-up, so running nodes are safe.

use ward_store_postgres::PostgresStore;

use crate::cli::CommonArgs;
use crate::config::{self, StorageConfig};
use crate::datadir::StartupError;

fn err(m: impl Into<String>) -> StartupError {
    StartupError::Message(m.into())
}

fn postgres(common: &CommonArgs) -> Result<ward_store_postgres::PgOptions, StartupError> {
    let file = config::read_file(common).map_err(|e| err(e.to_string()))?;
    match config::resolve_storage(common, &file.storage).map_err(|e| err(e.to_string()))? {
        StorageConfig::Postgres(o) => Ok(*o),
        StorageConfig::Sqlite => Err(err(
            "`ward db` manages a PostgreSQL schema (storage.kind = \"postgres\"); the embedded store migrates itself when opened",
        )),
    }
}

/// `ward db migrate`.
#[allow(clippy::print_stdout)]
pub async fn migrate(common: &CommonArgs) -> Result<(), StartupError> {
    let o = postgres(common)?;
    let applied = PostgresStore::migrate(&o)
        .await
        .map_err(|e| err(format!("migration failed: {e}")))?;
    if applied.is_empty() {
        println!(
            "schema is up to date (version {})",
            ward_store_postgres::SCHEMA_VERSION
        );
    } else {
        for v in applied {
            println!("applied migration {v}");
        }
    }
    Ok(())
}

/// `ward db status`; exits non-zero when migrations are pending or the schema is too new.
#[allow(clippy::print_stdout)]
pub async fn status(common: &CommonArgs) -> Result<(), StartupError> {
    let o = postgres(common)?;
    let s = PostgresStore::status(&o)
        .await
        .map_err(|e| err(format!("cannot read the schema: {e}")))?;
    println!(
        "schema version: {} (this binary: {})",
        s.current, s.supported
    );
    println!("initialised (data keys present): {}", s.initialised);
    for (v, d) in &s.pending {
        println!("pending migration {v}: {d}");
    }
    if s.current > s.supported {
        return Err(err("the database schema is newer than this Ward"));
    }
    if !s.pending.is_empty() {
        return Err(err("migrations are pending: run `ward db migrate`"));
    }
    Ok(())
}
