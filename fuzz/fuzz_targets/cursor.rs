//! Store queries from untrusted query parameters: filters and keyset cursors decoded and
//! run against an in-memory store.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sonde_core::store::{EventQuery, SqliteStore, Store};

fn store() -> &'static SqliteStore {
    static STORE: OnceLock<SqliteStore> = OnceLock::new();
    STORE.get_or_init(|| SqliteStore::open_in_memory().expect("a store"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // As a cursor alone, and as a whole query document.
    let as_cursor = serde_json::json!({ "cursor": text, "limit": 5 });
    if let Ok(query) = EventQuery::from_value(&as_cursor) {
        let _ = store().query(&query);
    }
    if let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) {
        if let Ok(query) = EventQuery::from_value(&doc) {
            let _ = store().query(&query);
        }
    }
});
