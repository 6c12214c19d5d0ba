//! `ingest` keeps properties, traits and context as JSON text when nothing needs to look
//! inside (see `event::raw`). These tests check that this fast path delivers the same
//! messages, and finds the same violations, as the parsed path (forced here by an identity
//! `before_send` hook, which makes the pipeline parse every object).

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{json, Value};
use sonde_core::{Config, DeliveryMode, ManualClock, Message, Sonde};

fn client(parsed: bool, options: &Value) -> Sonde {
    let mut config = Config::from_options(options).unwrap();
    config = config
        .delivery(DeliveryMode::Manual)
        .clock(Arc::new(ManualClock::new(1_800_000_000_000)));
    if parsed {
        config = config.before_send(|m: Message| Some(m));
    }
    Sonde::new(config).unwrap()
}

/// What each path does with one request: the delivered messages, or the item errors.
fn outcome(sonde: &Sonde, body: &[u8]) -> Value {
    let report = match sonde.ingest(body) {
        Ok(r) => r,
        Err(e) => return json!({"refused": e.violations()}),
    };
    let mut errors: Vec<Value> = report
        .items
        .iter()
        .map(|i| {
            let mut v: Vec<(String, String)> = i
                .errors
                .iter()
                .map(|e| (e.path.clone(), e.code.clone()))
                .collect();
            v.sort();
            json!(v)
        })
        .collect();
    sonde.flush(Duration::from_secs(1)).unwrap();
    let mut delivered = Vec::new();
    while let Some(batch) = sonde.take_batch().unwrap() {
        let payload: Value = serde_json::from_str(&batch.payload).unwrap();
        delivered.extend(payload["batch"].as_array().unwrap().iter().cloned());
        sonde.ack(batch.id).unwrap();
    }
    errors.push(json!(delivered));
    json!(errors)
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        "[a-z \"\\\\/\u{e9}\u{1F600}]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("(password|ip|library|x\"y|[a-z]{1,6})", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn raw_and_parsed_paths_agree(
        props in proptest::collection::btree_map("(password|plan|a/b|[a-z]{1,5})", arb_json(), 0..5),
        context in proptest::collection::btree_map("(library|ip|page|[a-z]{1,5})", arb_json(), 0..4),
        event in "(Signed Up|\\$api_request|Other)",
        max_depth in 2usize..5,
        pretty in any::<bool>(),
        batch_context in any::<bool>(),
        anonymize in any::<bool>(),
    ) {
        let item = json!({
            "type": "track", "event": event, "userId": "u1", "messageId": "m-1",
            "timestamp": "2027-01-15T08:00:00.000Z",
            "properties": Value::Object(props.into_iter().collect()),
            "context": Value::Object(context.into_iter().collect()),
        });
        let mut request = json!({"batch": [item]});
        if batch_context {
            request["context"] = json!({"app": {"name": "shop"}, "page": "batch"});
        }
        let body = if pretty { serde_json::to_vec_pretty(&request) } else { serde_json::to_vec(&request) }.unwrap();
        let options = json!({
            "limits": {"max_depth": max_depth, "max_key_length": 4},
            "ip_policy": if anonymize { "anonymize" } else { "keep" },
        });
        let fast = outcome(&client(false, &options), &body);
        let parsed = outcome(&client(true, &options), &body);
        prop_assert_eq!(fast, parsed);
    }
}

#[test]
fn raw_objects_pass_through_with_the_library_added() {
    let sonde = client(false, &json!({}));
    let body = br#"{"batch": [{"type": "track", "event": "A", "userId": "u",
        "properties": { "b": [1, 2, {"c": null}], "a": "x" },
        "context": {"page": {"path": "/"}}}]}"#;
    assert_eq!(sonde.ingest(body).unwrap().accepted, 1);
    sonde.flush(Duration::from_secs(1)).unwrap();
    let batch = sonde.take_batch().unwrap().unwrap();
    let m: Value = serde_json::from_str::<Value>(&batch.payload).unwrap()["batch"][0].clone();
    assert_eq!(m["properties"], json!({"a": "x", "b": [1, 2, {"c": null}]}));
    assert_eq!(m["context"]["page"], json!({"path": "/"}));
    assert_eq!(m["context"]["library"]["name"], json!("sonde-rust"));
    // The client's own text is kept in its key order, without the spacing between tokens
    // (pretty-printed input must not spread a delivered line over several).
    assert!(
        batch.payload.contains(r#"{"b":[1,2,{"c":null}],"a":"x"}"#),
        "{}",
        batch.payload
    );
}

#[test]
fn undecodable_strings_refuse_the_request_as_before() {
    let sonde = client(false, &json!({}));
    // An unpaired surrogate escape is refused while reading, raw or not: the whole request
    // is invalid JSON and nothing is counted, exactly as on the parsed path.
    let body = br#"{"type": "track", "event": "A", "userId": "u", "properties": {"x": "\ud800"}}"#;
    let err = sonde.ingest(body).unwrap_err();
    assert_eq!(err.violations()[0].code, "invalid_json");
    assert_eq!(sonde.stats().counters.received, 0);
}
