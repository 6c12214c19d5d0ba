//! Heap bytes each buffered event costs beyond its JSON size.
//! `cargo run --release -p sonde-core --example buffer_memory`
//!
//! Counts the bytes requested from the allocator while 100,000 typical events sit in the
//! buffer, minus the bytes of their serialized JSON. The allocator's own rounding is not
//! included (it depends on the allocator, not on Sonde).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use serde_json::json;
use sonde_core::{props, Config, DeliveryMode, Sonde};

#[path = "../benches/workload.rs"]
mod workload;
use workload::six_properties;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    const N: u64 = 100_000;
    let sonde = Sonde::new(
        Config::default()
            .delivery(DeliveryMode::Manual)
            .max_queue_events(N as usize)
            .max_queue_bytes(1 << 30)
            .flush_interval(Duration::from_secs(3600)),
    )
    .expect("config");
    // One event first so lazily built state (stats maps, names) is not counted per event.
    sonde
        .track("Order Completed", props(json!({"warm": true})))
        .expect("valid");
    let before = LIVE.load(Ordering::Relaxed);
    let queued_before = sonde.stats().counters.queued_bytes;
    for i in 1..N {
        sonde
            .track("Order Completed", six_properties(i as usize))
            .expect("valid");
    }
    let after = LIVE.load(Ordering::Relaxed);
    let c = sonde.stats().counters;
    assert_eq!(c.queued, N);
    let json_bytes = (c.queued_bytes - queued_before) as f64;
    let heap = (after - before) as f64;
    let n = (N - 1) as f64;
    println!("events buffered:          {}", N - 1);
    println!("JSON bytes per event:     {:.1}", json_bytes / n);
    println!("heap bytes per event:     {:.1}", heap / n);
    println!(
        "overhead beyond the JSON: {:.1} bytes per event",
        (heap - json_bytes) / n
    );
}
