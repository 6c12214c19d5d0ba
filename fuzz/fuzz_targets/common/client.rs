//! The client the event targets share: manual delivery (no worker thread) and a small
//! buffer that fills and drops, as under a flood.

use std::sync::OnceLock;

use sonde_core::{Config, DeliveryMode, Sonde};

pub fn client() -> &'static Sonde {
    static CLIENT: OnceLock<Sonde> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let config = Config::default()
            .delivery(DeliveryMode::Manual)
            .max_queue_events(1000);
        Sonde::new(config).expect("a client")
    })
}

/// Takes and acknowledges a batch, so the buffer keeps moving.
pub fn drain_one(sonde: &Sonde) {
    if let Ok(Some(batch)) = sonde.take_batch() {
        let _ = sonde.ack(batch.id);
    }
}
