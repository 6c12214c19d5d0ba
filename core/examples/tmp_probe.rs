fn main() {
    let s = sonde_core::Sonde::new(
        sonde_core::Config::default().delivery(sonde_core::DeliveryMode::Manual),
    )
    .unwrap();
    let input = br#"{"type": "track", "event": "Signed Up", "userId": "u1", "properties": {}, "context": {"library": {"name": "analytics.js", "version": "4.1.0"}}}"#;
    println!("{:?}", s.ingest(input));
    s.flush(std::time::Duration::ZERO).unwrap();
    let b = s.take_batch().unwrap().unwrap();
    println!("{}", String::from_utf8_lossy(b.payload.as_bytes()));
}
