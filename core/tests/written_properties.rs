//! Properties a binding writes as JSON text with `Sonde::object_writer` (the Python binding
//! writes a `dict` this way), or hands in as JSON text through `Sonde::with_properties_json`
//! (the JS bindings), must be delivered, redacted and refused exactly as the same
//! properties given as a map.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use sonde_core::{Config, DeliveryMode, ManualClock, Message, ObjectWriter, Sonde};

fn client(options: &Value) -> Sonde {
    let config = Config::from_options(options)
        .unwrap()
        .delivery(DeliveryMode::Manual)
        .clock(Arc::new(ManualClock::new(1_800_000_000_000)));
    Sonde::new(config).unwrap()
}

/// Writes `value` as a binding would, token by token.
fn write(w: &mut ObjectWriter<'_>, value: &Value) {
    match value {
        Value::Null => w.null(),
        Value::Bool(b) => w.bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => w.int(i),
            (_, Some(u), _) => w.uint(u),
            (_, _, Some(f)) => w.float(f),
            _ => w.null(),
        },
        Value::String(s) => w.string(s),
        Value::Array(items) => {
            w.begin_array();
            items.iter().for_each(|v| write(w, v));
            w.end_array();
        }
        Value::Object(map) => {
            w.begin_object();
            for (k, v) in map {
                w.key(k);
                write(w, v);
            }
            w.end_object();
        }
    }
}

/// What the client does with one `track`: its error codes, or the delivered event.
fn outcome(sonde: &Sonde, message: Message) -> Value {
    if let Err(e) = sonde.send(message) {
        let mut codes: Vec<(String, String)> = e
            .violations()
            .iter()
            .map(|v| (v.path.clone(), v.code.clone()))
            .collect();
        codes.sort();
        return json!({ "refused": codes });
    }
    sonde.flush(Duration::from_secs(1)).unwrap();
    let batch = sonde.take_batch().unwrap().unwrap();
    sonde.ack(batch.id).unwrap();
    let payload: Value = serde_json::from_str(&batch.payload).unwrap();
    payload["batch"][0].clone()
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<u64>().prop_map(|u| json!(u)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        "[a-z \"\\\\/\u{1}\u{e9}\u{1F600}]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                "(password|token|library|x\"y|long_key_name|[a-z]{1,6})",
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn written_and_map_properties_agree(
        props in proptest::collection::btree_map(
            "(password|plan|api_key|x\"y|library|long_key_name|[a-z]{1,5})",
            arb_json(),
            0..6,
        ),
        max_depth in 1usize..5,
        max_key_length in 4usize..12,
    ) {
        let options = json!({"limits": {"max_depth": max_depth, "max_key_length": max_key_length}});
        let sonde = client(&options);
        let props: Map<String, Value> = props.into_iter().collect();
        let base = || Message::track("Signed Up", Map::new()).with_user_id("u1").with_message_id("m-1");

        let mut w = sonde.object_writer();
        write(&mut w, &Value::Object(props.clone()));
        let written = w.finish("properties").unwrap();
        prop_assert_eq!(
            serde_json::from_str::<Value>(written.as_str()).unwrap(),
            Value::Object(props.clone())
        );
        let from_text = outcome(&sonde, base().with_written_properties(written));
        // The JS bindings' path: JSON text checked and scanned under the client's rules.
        let json_text = serde_json::to_string_pretty(&Value::Object(props.clone())).unwrap();
        let from_json = outcome(&sonde, sonde.with_properties_json(base(), json_text).unwrap());

        let mut message = base();
        message.properties = props;
        let from_map = outcome(&sonde, message);
        prop_assert_eq!(&from_text, &from_map);
        prop_assert_eq!(from_json, from_map);
    }
}

#[test]
fn a_writer_used_out_of_order_makes_no_object() {
    let sonde = client(&json!({}));
    let attempts: [&dyn Fn(&mut ObjectWriter<'_>); 5] = [
        &|w| w.string("not an object"),
        &|w| {
            w.begin_object();
            w.string("a value without a key");
            w.end_object();
        },
        &|w| {
            w.begin_object();
            w.key("unclosed");
            w.null();
        },
        &|w| {
            w.begin_object();
            w.key("a");
            w.end_object();
        },
        &|w| {
            w.begin_object();
            w.end_object();
            w.begin_object();
            w.end_object();
        },
    ];
    for attempt in attempts {
        let mut w = sonde.object_writer();
        attempt(&mut w);
        let e = w.finish("properties").unwrap_err();
        assert_eq!(e.violations()[0].path, "/properties");
    }
}

#[test]
fn a_scan_is_reused_only_by_the_client_that_made_it() {
    // Written under a client without redaction, sent through one that redacts `plan`.
    let lenient = client(&json!({"redact_keys": []}));
    let strict = client(&json!({"redact_keys": ["plan"]}));
    let mut w = lenient.object_writer();
    w.begin_object();
    w.key("plan");
    w.string("pro");
    w.end_object();
    let written = w.finish("properties").unwrap();
    let message = Message::track("Signed Up", Map::new())
        .with_user_id("u1")
        .with_written_properties(written);
    let delivered = outcome(&strict, message);
    assert_eq!(delivered["properties"]["plan"], json!(sonde_core::REDACTED));
}
