use serde_json::{json, Map, Value};
use sonde_core::*;
fn main() {
    let s = Sonde::new(
        Config::default()
            .delivery(DeliveryMode::Manual)
            .max_queue_events(10_000_000)
            .max_queue_bytes(1 << 32),
    )
    .unwrap();
    let props: Map<String, Value> = json!({"plan": "pro", "revenue": 42.5, "currency": "EUR", "items": 3, "coupon": null, "first_order": true}).as_object().unwrap().clone();
    let n = 20_000;
    let mode = std::env::args().nth(1).unwrap_or_default();
    for round in 0..1 {
        let t = std::time::Instant::now();
        if mode == "written" {
            for _ in 0..n {
                let mut w = s.object_writer();
                w.begin_object();
                for (k, v) in &props {
                    w.key(k);
                    match v {
                        Value::String(x) => w.string(x),
                        Value::Number(x) => {
                            if let Some(i) = x.as_i64() {
                                w.int(i)
                            } else {
                                w.float(x.as_f64().unwrap())
                            }
                        }
                        Value::Bool(b) => w.bool(*b),
                        _ => w.null(),
                    }
                }
                w.end_object();
                let m = Message::track("Order Completed", Map::new())
                    .with_user_id("user-7")
                    .with_written_properties(w.finish("properties").unwrap());
                s.send(m).unwrap();
            }
        }
        let a = t.elapsed().as_nanos() as f64 / n as f64;
        s.flush(std::time::Duration::ZERO).unwrap();
        while let Ok(Some(b)) = s.take_batch() {
            s.ack(b.id).unwrap();
        }
        let t = std::time::Instant::now();
        if mode == "map" {
            for _ in 0..n {
                let m = Message::track("Order Completed", props.clone()).with_user_id("user-7");
                s.send(m).unwrap();
            }
        }
        let b = t.elapsed().as_nanos() as f64 / n as f64;
        s.flush(std::time::Duration::ZERO).unwrap();
        while let Ok(Some(b)) = s.take_batch() {
            s.ack(b.id).unwrap();
        }
        println!("round {round}: written {a:.0} ns, map {b:.0} ns");
    }
}
