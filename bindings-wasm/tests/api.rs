//! The binding's API surface, run as wasm under Node by `wasm-bindgen-test-runner`
//! (`make test-wasm`): what the JS glue relies on — ids back from every event method,
//! errors as `Error` objects with `code` and `violations`, manual delivery through
//! `takeBatch` / `ack` / `nack`, statistics as JSON, and the browser clock.
#![cfg(target_arch = "wasm32")]

use serde_json::{json, Value};
use sonde_wasm::NativeSonde;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

fn client(options: Value) -> NativeSonde {
    match NativeSonde::new(Some(options.to_string())) {
        Ok(client) => client,
        Err(e) => panic!("client refused: {:?}", e),
    }
}

fn field(error: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(error, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

/// `(code, [(path, code)])` of a thrown SondeError.
fn refusal(error: JsValue) -> (String, Vec<(String, String)>) {
    assert!(
        error.is_instance_of::<js_sys::Error>(),
        "not an Error: {error:?}"
    );
    assert_eq!(
        field(&error, "name").as_string().as_deref(),
        Some("SondeError")
    );
    let code = field(&error, "code").as_string().unwrap_or_default();
    let list: js_sys::Array = field(&error, "violations").dyn_into().unwrap_or_default();
    let violations = list
        .iter()
        .map(|v| {
            let text = |k: &str| field(&v, k).as_string().unwrap_or_default();
            assert!(!text("message").is_empty(), "a violation without a message");
            (text("path"), text("code"))
        })
        .collect();
    (code, violations)
}

/// The due batch object as JSON, its counts as integers.
fn take(client: &NativeSonde) -> Value {
    let batch: JsValue = client
        .take_batch()
        .ok()
        .flatten()
        .expect("a batch is due")
        .into();
    let count = |k: &str| field(&batch, k).as_f64().map(|n| n as u64);
    json!({
        "id": count("id"),
        "attempt": count("attempt"),
        "events": count("events"),
        "payload": field(&batch, "payload").as_string(),
    })
}

fn events(batch: &Value) -> Vec<Value> {
    let payload: Value = serde_json::from_str(batch["payload"].as_str().unwrap_or("")).unwrap();
    payload["batch"].as_array().cloned().unwrap_or_default()
}

#[wasm_bindgen_test]
fn every_event_method_returns_the_message_id_and_is_delivered_in_order() {
    let c = client(json!({"batchSize": 100, "anonymousId": "anon-1", "randomSeed": 7}));
    let props = Some(json!({"plan": "pro"}).to_string());
    let ids = [
        c.track("Signed Up".into(), props.clone(), None).unwrap(),
        c.page(Some("Home".into()), None, None).unwrap(),
        c.screen(Some("Main".into()), None, None).unwrap(),
        c.identify("u1".into(), Some(r#"{"email":"a@b.c"}"#.into()), None)
            .unwrap(),
        c.group("g1".into(), None, None).unwrap(),
        c.alias("u1".into(), "anon-1".into(), None).unwrap(),
        c.track_interaction(
            "click".into(),
            "buy".into(),
            Some(r#"{"path":"/p"}"#.into()),
        )
        .unwrap(),
        c.track_error("TypeError".into(), "x is undefined".into(), None)
            .unwrap(),
        c.track_performance("web.lcp".into(), 812.5, None).unwrap(),
    ];
    c.flush().unwrap();
    let batch = take(&c);
    let delivered = events(&batch);
    assert_eq!(batch["events"], json!(ids.len()));
    assert_eq!(batch["attempt"], json!(1));
    let delivered_ids: Vec<&str> = delivered
        .iter()
        .filter_map(|e| e["messageId"].as_str())
        .collect();
    assert_eq!(
        delivered_ids,
        ids.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(delivered[0]["properties"], json!({"plan": "pro"}));
    assert_eq!(delivered[0]["anonymousId"], json!("anon-1"));
    assert_eq!(
        delivered[0]["context"]["library"]["name"],
        json!("sonde-browser")
    );
    assert_eq!(delivered[6]["event"], json!("$interaction"));
    assert_eq!(delivered[8]["properties"]["duration_ms"], json!(812.5));
    assert!(c.ack(batch["id"].as_f64().unwrap()).unwrap());
    assert!(c.take_batch().unwrap().is_none());
    assert_eq!(c.anonymous_id(), "anon-1");
}

#[wasm_bindgen_test]
fn the_browser_clock_stamps_events_with_the_current_time() {
    let c = client(json!({}));
    c.track("Clocked".into(), None, None).unwrap();
    c.flush().unwrap();
    let event = events(&take(&c)).remove(0);
    let stamped = event["timestamp"].as_str().unwrap_or("").to_owned();
    let now = js_sys::Date::new_0()
        .to_iso_string()
        .as_string()
        .unwrap_or_default();
    // Same minute (ISO text compares as time): the clock is Date.now, not zero or a fixture.
    assert_eq!(stamped[..16], now[..16], "{stamped} vs {now}");
    assert_eq!(event["messageId"].as_str().map(|id| &id[14..15]), Some("7"));
}

/// The refusal of a client made with `options`: its code and its violations, sorted.
fn refused_options(options: &str) -> (String, Vec<(String, String)>) {
    let error = NativeSonde::new(Some(options.into()))
        .err()
        .expect("refused");
    let (code, mut violations) = refusal(error);
    violations.sort();
    (code, violations)
}

#[wasm_bindgen_test]
fn bad_options_are_one_error_naming_every_problem() {
    let (code, violations) =
        refused_options(r#"{"sampleRate": 2, "batchSize": "ten", "bogus": 1}"#);
    assert_eq!(code, "invalid_config");
    let paths: Vec<&str> = violations.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["/batch_size", "/bogus", "/sample_rate"]);
    let error = NativeSonde::new(Some("[1]".into())).err().expect("refused");
    assert_eq!(refusal(error).0, "invalid_config");
}

#[wasm_bindgen_test]
fn server_only_options_are_refused_rather_than_ignored() {
    let (code, violations) = refused_options(
        r#"{"alertRules": [], "alertHistoryLimit": 5, "hostMetrics": false, "metricsIntervalMs": 1000}"#,
    );
    assert_eq!(code, "invalid_config");
    let paths: Vec<&str> = violations.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/alert_history_limit",
            "/alert_rules",
            "/host_metrics",
            "/metrics_interval_ms"
        ]
    );
    assert!(violations.iter().all(|(_, c)| c == "invalid_option"));
}

#[wasm_bindgen_test]
fn a_tracking_plan_violation_is_refused_with_its_code_and_path() {
    let plan = json!({"trackingPlan": {"events": {"Plan Chosen": {
        "type": "object",
        "properties": {"plan": {"enum": ["free", "pro"]}, "seats": {"type": "integer"}},
        "required": ["plan"]
    }}}});
    let c = client(plan);
    let error = c
        .track(
            "Plan Chosen".into(),
            Some(r#"{"plan":"gold","seats":1.5}"#.into()),
            None,
        )
        .expect_err("refused");
    let (code, mut violations) = refusal(error);
    violations.sort();
    assert_eq!(code, "invalid_event");
    assert_eq!(
        violations,
        [
            ("/properties/plan".into(), "enum".into()),
            ("/properties/seats".into(), "type_mismatch".into())
        ]
    );
    let error = c
        .track("Plan Chosen".into(), Some("not json".into()), None)
        .expect_err("refused");
    assert_eq!(
        refusal(error),
        (
            "invalid_event".into(),
            vec![("/properties".into(), "invalid_type".into())]
        )
    );
    assert!(c
        .track("Plan Chosen".into(), Some(r#"{"plan":"pro"}"#.into()), None)
        .is_ok());
    let stats: Value = serde_json::from_str(&c.stats()).unwrap();
    assert_eq!(stats["counters"]["accepted"], json!(1));
    assert_eq!(stats["counters"]["dropped"]["invalid"], json!(1));
}

#[wasm_bindgen_test]
fn a_nacked_batch_comes_back_with_the_next_attempt_then_is_dropped() {
    let c = client(json!({"maxRetries": 1, "retryInitialBackoffMs": 1, "retryMaxBackoffMs": 1}));
    c.track("Retried".into(), None, None).unwrap();
    c.flush().unwrap();
    let first = take(&c);
    let delay = c.nack(first["id"].as_f64().unwrap(), true, None).unwrap();
    // The 1 ms backoff with equal jitter: between half of it and all of it, in whole ms.
    assert!(
        delay.is_some_and(|ms| ms <= 1.0),
        "retryable: a delay back, {delay:?}"
    );
    assert!(c.next_batch_in().is_some());
    c.flush().unwrap();
    let second = take(&c);
    assert_eq!(second["attempt"], json!(2));
    assert_eq!(
        events(&second)[0]["messageId"],
        events(&first)[0]["messageId"]
    );
    assert_eq!(
        c.nack(second["id"].as_f64().unwrap(), true, None).unwrap(),
        None,
        "out of retries"
    );
    let stats: Value = serde_json::from_str(&c.stats()).unwrap();
    assert_eq!(stats["counters"]["dropped"]["retry_exhausted"], json!(1));
}

#[wasm_bindgen_test]
fn a_server_retry_after_longer_than_the_backoff_sets_the_delay() {
    let c = client(json!({"retryInitialBackoffMs": 10, "retryMaxBackoffMs": 20}));
    c.track("Busy".into(), None, None).unwrap();
    c.flush().unwrap();
    let first = take(&c);
    let delay = c
        .nack(first["id"].as_f64().unwrap(), true, Some(250.0))
        .unwrap();
    assert_eq!(delay, Some(250.0));
    assert!(
        c.next_batch_in().is_some_and(|ms| ms > 200.0),
        "not due before Retry-After"
    );
}

#[wasm_bindgen_test]
fn register_adds_super_properties_and_close_refuses_new_events() {
    let c = client(json!({"superProperties": {"app": "web"}}));
    c.register(r#"{"build": 42}"#.into()).unwrap();
    c.unregister("app");
    c.track("After Register".into(), None, None).unwrap();
    c.close();
    let error = c
        .track("After Close".into(), None, None)
        .expect_err("closed");
    assert_eq!(refusal(error).0, "shut_down");
    let event = events(&take(&c)).remove(0);
    assert_eq!(event["properties"], json!({"build": 42}));
    assert_eq!(c.next_batch_in(), None);
    assert!(c.register("[]".into()).is_err());
}

#[wasm_bindgen_test]
fn patterns_run_on_the_pages_regexp() {
    let plan = |pattern: &str| {
        json!({"trackingPlan": {"events": {"Coupon": {
            "type": "object",
            "properties": {"code": {"type": "string", "pattern": pattern}}
        }}}})
    };
    let c = client(plan("^[A-Z]{3}-\\d+$"));
    assert!(c
        .track("Coupon".into(), Some(r#"{"code":"ABC-12"}"#.into()), None)
        .is_ok());
    let error = c
        .track("Coupon".into(), Some(r#"{"code":"abc-12"}"#.into()), None)
        .expect_err("refused");
    assert_eq!(
        refusal(error).1,
        [("/properties/code".into(), "pattern".into())]
    );
    // Unanchored like JSON Schema, Unicode-aware (`u`): one emoji is one character.
    let c = client(plan("^.$"));
    assert!(c
        .track("Coupon".into(), Some(r#"{"code":"😀"}"#.into()), None)
        .is_ok());
    let error = NativeSonde::new(Some(plan("([a-z]").to_string()))
        .err()
        .expect("refused");
    let (code, violations) = refusal(error);
    assert_eq!(code, "invalid_config");
    assert_eq!(violations[0].1, "invalid_schema");
}

/// Numbers read and written through the page's `parseFloat` and `toExponential` where the
/// core's fast paths stop: the delivered text is what serde_json writes for the same value.
#[wasm_bindgen_test]
fn numbers_past_the_fast_paths_read_and_write_as_serde_json_does() {
    let c = client(json!({}));
    let numbers = [
        "0.1",
        "1e21",
        "1.5e-7",
        "1246842075626170.2",
        "12345.678",
        "-0.0",
        "100.0",
        "0.30000000000000004",
        "1.7976931348623157e308",
        "5e-324",
        "0.00001234",
        "123456789012345678901234567890",
        "2.5e-5",
    ];
    for text in numbers {
        let value: f64 = text.parse().unwrap();
        // Super properties are parsed to values and written again (event properties keep
        // the page's own text).
        c.register(format!("{{\"n\":{text}}}")).unwrap();
        c.track("Numbers".into(), None, None).unwrap();
        c.unregister("n");
        c.track_performance("op".into(), value, None).unwrap();
    }
    c.flush().unwrap();
    let batch = take(&c);
    let delivered = number_texts(batch["payload"].as_str().unwrap_or(""));
    assert_eq!(delivered.len(), 2 * numbers.len(), "{delivered:?}");
    for (i, text) in numbers.iter().enumerate() {
        let value: f64 = text.parse().unwrap();
        let expected = serde_json::to_string(&value).unwrap();
        assert_eq!(delivered[2 * i], expected, "super property n of {text}");
        assert_eq!(delivered[2 * i + 1], expected, "duration_ms of {text}");
    }
}

/// The text after each `"n":` and `"duration_ms":` in a payload, in order.
fn number_texts(payload: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = payload;
    while let Some(at) = ["\"n\":", "\"duration_ms\":"]
        .iter()
        .filter_map(|key| rest.find(key).map(|i| i + key.len()))
        .min()
    {
        rest = &rest[at..];
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        found.push(rest[..end].to_owned());
        rest = &rest[end..];
    }
    found
}
