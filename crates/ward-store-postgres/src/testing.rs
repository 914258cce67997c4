//! Test support: a fresh schema per test in the database named by `WARD_TEST_POSTGRES_URL`,
//! dropped when the handle goes out of scope. Only compiled with the `testing` feature.

use ward_store::{KeyRing, StoreResult};

use crate::{PgOptions, PostgresStore};

/// The environment variable naming the test database.
pub const ENV: &str = "WARD_TEST_POSTGRES_URL";

/// The test database URL, or `None` after printing the skip notice for `test`.
pub fn url_or_skip(test: &str) -> Option<String> {
    match std::env::var(ENV) {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            // Written to the stderr handle, not through `eprintln!`: libtest captures the print
            // macros of passing tests, so the notice would never be seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "NOTICE: {test}: SKIPPED (PostgreSQL): {ENV} is not set; \
                 set it to e.g. postgres://postgres@127.0.0.1:5432/test to run it"
            );
            None
        }
    }
}

/// A schema created for one test and dropped afterwards.
#[derive(Debug)]
pub struct TestSchema {
    pub url: String,
    pub name: String,
}

impl TestSchema {
    /// Creates `t_<random>` in the test database.
    pub async fn create(url: &str) -> StoreResult<Self> {
        let name = format!("t_{}", uuid_like());
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(crate::conn::map_err)?;
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .map_err(crate::conn::map_err)?;
        drop(client);
        let _ = task.await;
        Ok(Self {
            url: url.to_owned(),
            name,
        })
    }

    /// Options that put Ward's tables in this schema.
    pub fn options(&self) -> PgOptions {
        let mut o = PgOptions::new(self.url.clone());
        o.schema = Some(self.name.clone());
        o.pool_size = 4;
        o
    }

    /// Opens a store in this schema.
    pub async fn open(&self, ring: KeyRing) -> StoreResult<PostgresStore> {
        PostgresStore::open(self.options(), ring).await
    }
}

fn uuid_like() -> String {
    let bytes: [u8; 8] = ward_crypto::random_bytes().unwrap_or([0; 8]);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // A separate thread and runtime: the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                {
                    let task = tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .await;
                    drop(client);
                    let _ = task.await;
                }
            });
        })
        .join();
    }
}
