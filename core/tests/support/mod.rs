//! PostgreSQL for the store tests: a fresh database per test on the server that
//! `scripts/with-postgres.sh` starts (`make test-rust` runs the tests under it). A missing
//! server fails the test: it is never skipped.

use std::sync::atomic::{AtomicUsize, Ordering};

static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// The URL of a new, empty database named after `test`.
pub fn postgres_database(test: &str) -> String {
    let base = std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_POSTGRES_URL is not set: run the tests with `make test-rust`, or under \
             scripts/with-postgres.sh, which starts a PostgreSQL server for them"
        )
    });
    let name: String = test
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect();
    let database = format!(
        "t{}_{}_{name}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = postgres::Client::connect(&base, postgres::NoTls)
        .unwrap_or_else(|e| panic!("connecting to the test server {base}: {e}"));
    // One statement each: CREATE DATABASE cannot run inside a (multi-statement) transaction.
    for sql in [
        format!("DROP DATABASE IF EXISTS {database}"),
        format!("CREATE DATABASE {database}"),
    ] {
        admin
            .batch_execute(&sql)
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }
    match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{database}"),
        None => panic!("TEST_POSTGRES_URL has no database part: {base}"),
    }
}
