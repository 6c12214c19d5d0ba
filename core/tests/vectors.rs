//! Runs every shared test vector in `tests/vectors/` (format: tests/vectors/README.md).
//! The Python, Node and browser suites run the same files through their own bindings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use sonde_core::{
    Config, Error, IngestReport, ItemStatus, Message, Sonde, StatsSnapshot, Violation,
};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

fn vector_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for area in std::fs::read_dir(vectors_dir()).expect("tests/vectors exists") {
        let area = area.expect("entry").path();
        if area.is_dir() {
            for f in std::fs::read_dir(&area).expect("area dir") {
                let f = f.expect("entry").path();
                if f.extension().is_some_and(|e| e == "json") {
                    files.push(f);
                }
            }
        }
    }
    files.sort();
    files
}

fn client(config: &Value) -> Result<Sonde, Error> {
    let mut options = config.as_object().cloned().unwrap_or_default();
    options.insert("delivery".into(), json!("manual"));
    options.insert("flush_interval_ms".into(), json!(3_600_000));
    Sonde::new(Config::from_options(&Value::Object(options))?)
}

fn pairs(violations: &[Violation]) -> Vec<(String, String)> {
    let mut v: Vec<_> = violations
        .iter()
        .map(|v| (v.path.clone(), v.code.clone()))
        .collect();
    v.sort();
    v
}

/// Compares violation sets, explaining any difference.
fn same_violations(got: &[Violation], expected: &Value) -> Result<(), String> {
    let (got, want) = (pairs(got), expected_pairs(expected));
    if got == want {
        Ok(())
    } else {
        Err(format!("violations {got:?}, expected {want:?}"))
    }
}

fn expected_pairs(expected: &Value) -> Vec<(String, String)> {
    let mut v: Vec<_> = expected
        .as_array()
        .expect("list of {path, code}")
        .iter()
        .map(|e| {
            (
                e["path"].as_str().expect("path").to_owned(),
                e["code"].as_str().expect("code").to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

/// `expected` is a subset of `actual`: objects by key, arrays element-wise, numbers by value.
fn subset(expected: &Value, actual: &Value, at: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let av = a
                    .get(k)
                    .ok_or_else(|| format!("{at}/{k} missing in {actual}"))?;
                subset(ev, av, &format!("{at}/{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => e
            .iter()
            .zip(a)
            .enumerate()
            .try_for_each(|(i, (x, y))| subset(x, y, &format!("{at}/{i}"))),
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            if (x - y).abs() <= 1e-9 * x.abs().max(1.0) {
                Ok(())
            } else {
                Err(format!("{at}: expected {x}, got {y}"))
            }
        }
        _ if expected == actual => Ok(()),
        _ => Err(format!("{at}: expected {expected}, got {actual}")),
    }
}

/// With `expected.exact_numbers`: every number `expected` holds was delivered written the
/// same way, an integer as an integer and a float (`1.0`) as a float.
fn same_number_kinds(expected: &Value, actual: &Value, at: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e.iter().try_for_each(|(k, ev)| {
            a.get(k)
                .map_or(Ok(()), |av| same_number_kinds(ev, av, &format!("{at}/{k}")))
        }),
        (Value::Array(e), Value::Array(a)) => e
            .iter()
            .zip(a)
            .enumerate()
            .try_for_each(|(i, (x, y))| same_number_kinds(x, y, &format!("{at}/{i}"))),
        (Value::Number(x), Value::Number(y)) if x.is_f64() != y.is_f64() => {
            Err(format!("{at}: {y} delivered where the vector wrote {x}"))
        }
        _ => Ok(()),
    }
}

fn status_name(s: ItemStatus) -> &'static str {
    match s {
        ItemStatus::Accepted => "accepted",
        ItemStatus::Sampled => "sampled",
        ItemStatus::Filtered => "filtered",
        ItemStatus::QueueFull => "queue_full",
        ItemStatus::Rejected => "rejected",
    }
}

fn delivered_one(sonde: &Sonde) -> Value {
    sonde.flush(Duration::from_secs(1)).expect("flush");
    let batch = sonde.take_batch().expect("manual").expect("a due batch");
    let payload: Value = serde_json::from_str(&batch.payload).expect("payload JSON");
    assert!(sonde.ack(batch.id).expect("manual"));
    payload["batch"][0].clone()
}

fn check_delivered(expected: &Value, message: &Value) -> Result<(), String> {
    if let Some(d) = expected.get("delivered") {
        subset(d, message, "")?;
        if expected["exact_numbers"] == json!(true) {
            same_number_kinds(d, message, "")?;
        }
    }
    for p in expected
        .get("present")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let p = p.as_str().expect("pointer");
        if message.pointer(p).is_none_or(Value::is_null) {
            return Err(format!("{p} should be present in {message}"));
        }
    }
    for p in expected
        .get("absent")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let p = p.as_str().expect("pointer");
        if message.pointer(p).is_some() {
            return Err(format!("{p} should be absent from {message}"));
        }
    }
    for p in expected
        .get("uuid_v7")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = message
            .pointer(p.as_str().expect("pointer"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if id.len() != 36 || &id[14..15] != "7" {
            return Err(format!("{p} is not a UUIDv7: {id:?}"));
        }
    }
    Ok(())
}

fn input_bytes(case: &Value) -> Vec<u8> {
    if case["raw"].as_bool() == Some(true) {
        case["input"]
            .as_str()
            .expect("raw input is a string")
            .as_bytes()
            .to_vec()
    } else {
        serde_json::to_vec(&case["input"]).expect("json")
    }
}

/// The violations of a one-item request, whether refused whole or item by item.
fn single_item_violations(
    report: Result<IngestReport, Error>,
) -> Result<Vec<(String, String)>, String> {
    Ok(match report {
        Err(e) => pairs(e.violations()),
        Ok(r) => match r.items.as_slice() {
            [one] if one.status == ItemStatus::Rejected => pairs(&one.errors),
            _ => return Err(format!("expected a rejection, got {r:?}")),
        },
    })
}

fn run_message(case: &Value) -> Result<(), String> {
    let sonde = client(&case["config"]).map_err(|e| e.to_string())?;
    if let Some(errors) = case.get("expected_errors") {
        // The dry run finds exactly what ingest refuses, and records nothing.
        let dry = single_item_violations(sonde.validate_request(&input_bytes(case), None))?;
        if dry != expected_pairs(errors) {
            return Err(format!("validate_request found {dry:?}"));
        }
        if sonde.stats().counters.received != 0 {
            return Err("validate_request counted events".into());
        }
    }
    let report = sonde.ingest(&input_bytes(case));
    if let Some(errors) = case.get("expected_errors") {
        let (got, want) = (single_item_violations(report)?, expected_pairs(errors));
        // (a one-item request may be refused whole or item by item: both count)
        return if got == want {
            Ok(())
        } else {
            Err(format!("violations {got:?}, expected {want:?}"))
        };
    }
    let expected = &case["expected"];
    let report = report.map_err(|e| format!("unexpected error {e}"))?;
    let item = report.items.first().ok_or("no item in report")?;
    let want_status = expected["status"].as_str().unwrap_or("accepted");
    if status_name(item.status) != want_status {
        return Err(format!(
            "status {:?}, expected {want_status}: {item:?}",
            item.status
        ));
    }
    let want_warnings = expected
        .get("warnings")
        .map(expected_pairs)
        .unwrap_or_default();
    if pairs(&item.warnings) != want_warnings {
        return Err(format!(
            "warnings {:?}, expected {want_warnings:?}",
            pairs(&item.warnings)
        ));
    }
    if item.status == ItemStatus::Accepted {
        check_delivered(expected, &delivered_one(&sonde))?;
    }
    Ok(())
}

fn run_batch(case: &Value) -> Result<(), String> {
    let sonde = client(&case["config"]).map_err(|e| e.to_string())?;
    let report = sonde.ingest(&input_bytes(case));
    if let Some(errors) = case.get("expected_errors") {
        let e = report.err().ok_or("expected the request to be refused")?;
        return same_violations(e.violations(), errors);
    }
    let report: IngestReport = report.map_err(|e| e.to_string())?;
    let mut actual = serde_json::to_value(&report).map_err(|e| e.to_string())?;
    // Compare violations as (path, code) sets, like every other runtime does.
    for item in actual["items"].as_array_mut().into_iter().flatten() {
        let errs: Vec<Violation> =
            serde_json::from_value(item["errors"].take()).unwrap_or_default();
        item["errors"] = json!(pairs(&errs)
            .into_iter()
            .map(|(p, c)| json!({"path": p, "code": c}))
            .collect::<Vec<_>>());
    }
    let mut expected = case["expected"].clone();
    for item in expected["items"].as_array_mut().into_iter().flatten() {
        if let Some(errs) = item.get("errors") {
            let sorted: Vec<Value> = expected_pairs(errs)
                .into_iter()
                .map(|(p, c)| json!({"path": p, "code": c}))
                .collect();
            item["errors"] = json!(sorted);
        }
    }
    // Items are compared by their index field; an empty list means no items at all.
    if let Some(Value::Array(items)) = expected.as_object_mut().and_then(|o| o.remove("items")) {
        if items.is_empty() && actual["items"].as_array().is_some_and(|a| !a.is_empty()) {
            return Err(format!("expected no items, got {}", actual["items"]));
        }
        for want in items {
            let i = want["index"].as_u64().ok_or("item index")? as usize;
            subset(&want, &actual["items"][i], &format!("/items/{i}"))?;
        }
    }
    subset(&expected, &actual, "")
}

fn run_config(case: &Value) -> Result<(), String> {
    match (
        Config::from_options(&case["input"]),
        case.get("expected_errors"),
    ) {
        (Err(e), Some(errors)) if e.code() == "invalid_config" => {
            same_violations(e.violations(), errors)
        }
        (Err(e), Some(_)) => Err(format!("code {}", e.code())),
        (Ok(_), None) => Ok(()),
        (Ok(_), Some(_)) => Err("configuration was accepted".into()),
        (Err(e), None) => Err(format!("configuration refused: {e}")),
    }
}

fn run_track(case: &Value) -> Result<(), String> {
    let sonde = client(&case["config"]).map_err(|e| e.to_string())?;
    let input = &case["input"];
    if let Some(Value::Object(sp)) = input.get("register") {
        sonde.register(sp.clone());
    }
    let props = input
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut m = Message::track(input["event"].as_str().unwrap_or_default(), props);
    if let Some(u) = input.get("user_id").and_then(Value::as_str) {
        m = m.with_user_id(u);
    }
    match (sonde.send(m), case.get("expected_errors")) {
        (Err(e), Some(errors)) => same_violations(e.violations(), errors),
        (Ok(_), None) => check_delivered(&case["expected"], &delivered_one(&sonde)),
        (Ok(r), Some(_)) => Err(format!("accepted: {r:?}")),
        (Err(e), None) => Err(format!("refused: {e}")),
    }
}

fn snapshot_of(config: &Value, messages: &[Value]) -> Result<StatsSnapshot, String> {
    let sonde = client(config).map_err(|e| e.to_string())?;
    sonde
        .ingest(&serde_json::to_vec(messages).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    Ok(sonde.stats())
}

fn comparable(s: &StatsSnapshot) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    v.as_object_mut().map(|o| {
        o.remove("taken_at");
        o.remove("rates")
    });
    v
}

fn run_stats_merge(case: &Value) -> Result<(), String> {
    let a: Vec<Value> =
        serde_json::from_value(case["input"]["a"].clone()).map_err(|e| e.to_string())?;
    let b: Vec<Value> =
        serde_json::from_value(case["input"]["b"].clone()).map_err(|e| e.to_string())?;
    let mut merged = snapshot_of(&case["config"], &a)?;
    let other = snapshot_of(&case["config"], &b)?;
    // The merge also survives a JSON round trip, as it does between processes.
    let other = StatsSnapshot::from_json(&other.to_json()).map_err(|e| e.to_string())?;
    merged.merge(&other).map_err(|e| e.to_string())?;
    if case["exact"].as_bool() != Some(false) {
        let both: Vec<Value> = a.iter().chain(&b).cloned().collect();
        let combined = snapshot_of(&case["config"], &both)?;
        if comparable(&merged) != comparable(&combined) {
            return Err(format!(
                "merged snapshot differs from the combined one:\n{}\n{}",
                comparable(&merged),
                comparable(&combined)
            ));
        }
    }
    subset(
        &case["expected"],
        &serde_json::to_value(&merged).map_err(|e| e.to_string())?,
        "",
    )
}

fn run_alerts(case: &Value) -> Result<(), String> {
    use sonde_core::alert::AlertEngine;
    let engine = AlertEngine::rules_from_json(&case["input"]["rules"])
        .and_then(|rules| AlertEngine::new(rules, 100));
    let mut engine = match (engine, case.get("expected_errors")) {
        (Err(e), Some(errors)) => return same_violations(e.violations(), errors),
        (Ok(_), Some(_)) => return Err("rules were accepted".into()),
        (Err(e), None) => return Err(format!("rules refused: {e}")),
        (Ok(engine), None) => engine,
    };
    let mut got = Vec::new();
    for point in case["input"]["series"].as_array().ok_or("series")? {
        let t = point["t_ms"].as_i64().ok_or("t_ms")?;
        let metrics = &point["metrics"];
        for tr in engine.evaluate(t, |m| metrics.get(m).and_then(Value::as_f64)) {
            got.push(json!({"t_ms": t, "rule": tr.rule, "state": tr.state}));
        }
    }
    subset(&case["expected"], &Value::Array(got), "")
}

fn run_store_query(case: &Value) -> Result<(), String> {
    use sonde_core::store::EventQuery;
    match (
        EventQuery::from_value(&case["input"]),
        case.get("expected_errors"),
    ) {
        (Err(e), Some(errors)) => same_violations(e.violations(), errors),
        (Ok(_), None) => Ok(()),
        (Ok(q), Some(_)) => Err(format!("query accepted: {q:?}")),
        (Err(e), None) => Err(format!("query refused: {e}")),
    }
}

/// The `$api_request` and `$error` events a manual client delivered, in order.
#[cfg(feature = "http")]
fn delivered_all(sonde: &Sonde) -> Vec<Value> {
    sonde.flush(Duration::from_secs(1)).expect("flush");
    let mut out = Vec::new();
    while let Some(batch) = sonde.take_batch().expect("manual") {
        let payload: Value = serde_json::from_str(&batch.payload).expect("payload JSON");
        out.extend(payload["batch"].as_array().cloned().unwrap_or_default());
        sonde.ack(batch.id).expect("manual");
    }
    out
}

/// Each expected `{properties, absent?}` against the events of one name, in order.
#[cfg(feature = "http")]
fn check_events(expected: Option<&Value>, events: &[&Value], what: &str) -> Result<(), String> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let expected = expected.as_array().expect("list");
    if expected.len() != events.len() {
        return Err(format!(
            "{} {what} events, expected {}: {events:?}",
            events.len(),
            expected.len()
        ));
    }
    for (want, got) in expected.iter().zip(events) {
        subset(&want["properties"], &got["properties"], what)?;
        for name in want["absent"].as_array().into_iter().flatten() {
            let name = name.as_str().expect("name");
            if got["properties"].get(name).is_some() {
                return Err(format!("{what}: {name} should be absent in {got}"));
            }
        }
    }
    Ok(())
}

#[cfg(feature = "http")]
fn run_http_request(case: &Value) -> Result<(), String> {
    use sonde_core::http::{RequestFacts, RequestRecorder};
    let recorder = RequestRecorder::from_options(&case["recorder"]);
    let recorder = match (recorder, case.get("expected_errors")) {
        (Err(e), Some(want)) => return same_violations(e.violations(), want),
        (Ok(_), Some(_)) => return Err("options accepted".into()),
        (Err(e), None) => return Err(format!("options refused: {e}")),
        (Ok(r), None) => r,
    };
    let sonde = client(case.get("config").unwrap_or(&Value::Null)).map_err(|e| e.to_string())?;
    let mut excluded = Vec::new();
    for (i, facts) in case["input"].as_array().expect("input").iter().enumerate() {
        let facts: RequestFacts =
            serde_json::from_value(facts.clone()).map_err(|e| format!("facts {i}: {e}"))?;
        if recorder.excludes(&facts.method, &facts.path) {
            excluded.push(json!(i));
            continue;
        }
        recorder.record(&sonde, facts);
    }
    let expected = &case["expected"];
    if let Some(want) = expected.get("excluded") {
        if want != &Value::Array(excluded.clone()) {
            return Err(format!("excluded {excluded:?}, expected {want}"));
        }
    }
    let stats = serde_json::to_value(sonde.stats()).expect("stats JSON");
    if let Some(routes) = expected.get("routes") {
        subset(routes, &stats["routes"], "/routes")?;
    }
    let events = delivered_all(&sonde);
    let named =
        |name: &str| -> Vec<&Value> { events.iter().filter(|e| e["event"] == name).collect() };
    check_events(
        expected.get("events"),
        &named("$api_request"),
        "$api_request",
    )?;
    check_events(expected.get("errors"), &named("$error"), "$error")
}

#[cfg(feature = "http")]
fn api_request(step: &Value) -> sonde_core::http::HttpRequest {
    use std::io::Write;
    let r = &step["request"];
    let mut headers: Vec<(String, String)> = r["headers"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().expect("header text").to_owned()))
        .collect();
    let mut body = match (r.get("json"), r.get("text")) {
        (Some(json), _) => serde_json::to_vec(json).expect("JSON"),
        (None, Some(text)) => text.as_str().expect("text").as_bytes().to_vec(),
        _ => Vec::new(),
    };
    if r["gzip"] == json!(true) {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&body).expect("gzip");
        body = gz.finish().expect("gzip");
        headers.push(("content-encoding".into(), "gzip".into()));
    }
    sonde_core::http::HttpRequest {
        method: r["method"].as_str().expect("method").to_owned(),
        path: r["path"].as_str().expect("path").to_owned(),
        query: r["query"].as_str().unwrap_or("").to_owned(),
        headers,
        body,
    }
}

/// A response against `{status, code?, body?, headers?, violations?}`.
#[cfg(feature = "http")]
fn check_response(
    expected: &Value,
    status: u16,
    headers: &[(String, String)],
    body: &Value,
) -> Result<(), String> {
    if expected["status"] != json!(status) {
        return Err(format!(
            "status {status}, expected {}: {body}",
            expected["status"]
        ));
    }
    if let Some(code) = expected.get("code") {
        if &body["code"] != code {
            return Err(format!("code {}, expected {code}", body["code"]));
        }
    }
    if let Some(want) = expected.get("body") {
        subset(want, body, "")?;
    }
    // `keys`: JSON pointer → the exact keys of the object there.
    for (pointer, keys) in expected["keys"].as_object().into_iter().flatten() {
        let mut got: Vec<&str> = body
            .pointer(pointer)
            .and_then(Value::as_object)
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut want: Vec<&str> = keys
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        got.sort_unstable();
        want.sort_unstable();
        if got != want {
            return Err(format!(
                "keys at {pointer:?}: {got:?}, expected exactly {want:?}"
            ));
        }
    }
    for (name, value) in expected["headers"].as_object().into_iter().flatten() {
        let got = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str());
        if got != value.as_str() {
            return Err(format!("header {name}: {got:?}, expected {value}"));
        }
    }
    if let Some(want) = expected.get("violations") {
        let key = |v: &Value, with_index: bool| {
            let index = if with_index {
                v["index"].to_string()
            } else {
                String::new()
            };
            format!("{index}|{}|{}", v["path"], v["code"])
        };
        let wants: Vec<&Value> = want.as_array().expect("list").iter().collect();
        let with_index = wants.iter().any(|w| w.get("index").is_some());
        let mut want_keys: Vec<String> = wants.iter().map(|w| key(w, with_index)).collect();
        let mut got: Vec<String> = body["violations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| key(v, with_index))
            .collect();
        got.sort();
        want_keys.sort();
        if got != want_keys {
            return Err(format!("violations {got:?}, expected {want_keys:?}"));
        }
    }
    Ok(())
}

#[cfg(feature = "postgres")]
mod support;

#[cfg(feature = "postgres")]
fn postgres_store() -> Result<std::sync::Arc<dyn sonde_core::store::Store>, String> {
    let url = support::postgres_database("api_vector");
    let store = sonde_core::store::PostgresStore::open(&url).map_err(|e| e.to_string())?;
    Ok(std::sync::Arc::new(store))
}

#[cfg(not(feature = "postgres"))]
fn postgres_store() -> Result<std::sync::Arc<dyn sonde_core::store::Store>, String> {
    Err("built without the postgres feature".into())
}

/// An API vector; one with a store runs against every backend (SQLite, then PostgreSQL).
#[cfg(feature = "http")]
fn run_api(case: &Value) -> Result<(), String> {
    if case["store"] != json!(true) {
        return run_api_on(case, None);
    }
    for backend in ["sqlite", "postgres"] {
        if backend == "postgres" && cfg!(not(feature = "postgres")) {
            continue;
        }
        run_api_on(case, Some(backend)).map_err(|why| format!("{backend}: {why}"))?;
    }
    Ok(())
}

#[cfg(feature = "http")]
fn run_api_on(case: &Value, backend: Option<&str>) -> Result<(), String> {
    use sonde_core::http::{Api, FixedHost};
    use sonde_core::store::{SqliteStore, Store};
    let api = match (Api::new(&case["api"]), case.get("expected_errors")) {
        (Err(e), Some(want)) => return same_violations(e.violations(), want),
        (Ok(_), Some(_)) => return Err("options accepted".into()),
        (Err(e), None) => return Err(format!("options refused: {e}")),
        (Ok(api), None) => api,
    };
    let mut options = case["config"].as_object().cloned().unwrap_or_default();
    options.insert("flush_interval_ms".into(), json!(3_600_000));
    let mut config =
        Config::from_options(&Value::Object(options.clone())).map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!(
        "sonde-api-vector-{}-{}",
        std::process::id(),
        sonde_core::ids::stable_hash(case["name"].to_string().as_bytes())
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = if let Some(backend) = backend {
        let store: std::sync::Arc<dyn Store> = if backend == "postgres" {
            postgres_store()?
        } else {
            std::sync::Arc::new(
                SqliteStore::open(dir.join("events.db")).map_err(|e| e.to_string())?,
            )
        };
        config = config.sink(sonde_core::store::StoreSink::new(store.clone()));
        Some(store)
    } else {
        config = config.sink(sonde_core::sink::MemorySink::new());
        None
    };
    let host = FixedHost {
        sonde: Sonde::new(config).map_err(|e| e.to_string())?,
        store,
        options,
    };
    let mut result = Ok(());
    for (i, step) in case["input"].as_array().expect("input").iter().enumerate() {
        if step["flush"] == json!(true) {
            host.sonde
                .flush(Duration::from_secs(5))
                .map_err(|e| e.to_string())?;
            continue;
        }
        let response = api.handle(&host, &api_request(step));
        let body = response.json_body();
        if let Err(why) =
            check_response(&step["expected"], response.status, &response.headers, &body)
        {
            result = Err(format!("step {i}: {why}"));
            break;
        }
    }
    let _ = host.sonde.shutdown(Duration::from_secs(1));
    drop(host);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Every vector area; a new folder must be added here, and a missing one fails.
const AREAS: [&str; 12] = [
    "alerts",
    "api",
    "batch",
    "config",
    "http_request",
    "normalization",
    "reserved",
    "stats",
    "store",
    "track",
    "tracking_plan",
    "validation",
];

#[test]
fn every_vector_passes() {
    let mut failures = Vec::new();
    let mut areas: Vec<String> = Vec::new();
    let mut ran = 0usize;
    #[cfg_attr(feature = "http", allow(unused_mut))]
    let mut not_built = 0usize;
    for file in vector_files() {
        let area = file.parent().and_then(|p| p.file_name()).expect("area");
        areas.push(area.to_string_lossy().into_owned());
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("read"))
            .expect("vector JSON");
        let kind = doc["kind"].as_str().expect("kind");
        let cases = doc["cases"].as_array().expect("cases");
        assert!(!cases.is_empty(), "{} has no cases", file.display());
        for case in cases {
            assert!(
                case["name"].is_string(),
                "a case without a name in {}",
                file.display()
            );
            let result = match kind {
                "message" => run_message(case),
                "batch" => run_batch(case),
                "config" => run_config(case),
                "track" => run_track(case),
                "stats_merge" => run_stats_merge(case),
                "alerts" => run_alerts(case),
                "store_query" => run_store_query(case),
                #[cfg(feature = "http")]
                "http_request" => run_http_request(case),
                #[cfg(feature = "http")]
                "api" => run_api(case),
                #[cfg(not(feature = "http"))]
                "http_request" | "api" => {
                    not_built += 1;
                    continue;
                }
                other => Err(format!("unknown vector kind {other}")),
            };
            ran += 1;
            if let Err(why) = result {
                failures.push(format!("{} / {}: {why}", file.display(), case["name"]));
            }
        }
    }
    areas.dedup();
    assert_eq!(areas, AREAS, "the vector folders changed");
    // `make test` builds with every feature: then no case may be left out.
    assert!(cfg!(not(feature = "http")) || not_built == 0);
    assert!(
        failures.is_empty(),
        "{} of {ran} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_violation_code_has_a_vector() {
    let mut text = String::new();
    for file in vector_files() {
        text.push_str(&std::fs::read_to_string(&file).expect("read"));
    }
    for code in sonde_core::codes::ALL {
        assert!(
            text.contains(&format!("\"code\": \"{code}\"")),
            "no vector expects {code}"
        );
    }
}
