//! The typical event and batch every benchmark and measurement uses, in one place
//! (included by the benches and the measurement examples with `#[path]`).

// Each includer uses only part of it.
#![allow(dead_code)]

use serde_json::{json, Value};
use sonde_core::{props, Properties};

/// A typical `track` event's six properties.
pub fn six_properties(i: usize) -> Properties {
    props(json!({
        "plan": "pro",
        "revenue": 42.5,
        "currency": "EUR",
        "items": i,
        "coupon": null,
        "first_order": true
    }))
}

/// A Segment batch of `n` typical `track` messages, ids starting at `start`.
pub fn batch_json(n: usize, start: usize) -> Vec<u8> {
    let items: Vec<Value> = (start..start + n)
        .map(|i| {
            json!({
                "type": "track",
                "event": "Order Completed",
                "userId": format!("user-{i}"),
                "messageId": format!("msg-{i}"),
                "timestamp": "2026-11-26T10:00:00.000Z",
                "properties": six_properties(i),
                "context": {"ip": "10.0.0.1", "userAgent": "Mozilla/5.0 (X11; Linux x86_64)", "page": {"path": "/checkout"}}
            })
        })
        .collect();
    serde_json::to_vec(&json!({"batch": items, "sentAt": "2026-11-26T10:00:01.000Z"}))
        .unwrap_or_default()
}
