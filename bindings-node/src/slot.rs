//! The client a `NativeSonde` runs now, and how to build the next one: `reconfigure` (from
//! JS, or the API's `PUT /config`) builds a client with the merged options, swaps it in,
//! and lets the previous one deliver what it holds. Every call reads the current client
//! through `Slot::current` (a read lock and an `Arc` clone).

use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use serde_json::{Map, Value};
use sonde_core::config::{merge_option_changes, Destinations, NoticeHook, DESTINATION_OPTIONS};
use sonde_core::http::{ApiHost, FixedHost};
use sonde_core::sink::CallbackSink;
use sonde_core::store::Store;
use sonde_core::{codes, Config, Error as CoreError, ErrorKind, Sonde, Violation};

/// Options `index.js` handles itself: they cannot change on a running client either.
const BINDING_OPTIONS: &[&str] = &[
    "sink",
    "sink_timeout_ms",
    "on_error",
    "logger",
    "before_send",
    "flush_on_exit",
    "handle_signals",
    "exit_timeout_ms",
];

/// How long the API's `PUT /config` lets the previous client deliver what it holds.
const API_RECONFIGURE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a client is built from.
pub struct Recipe {
    /// The core options (snake_case), the anonymous id pinned after the first build.
    pub options: Map<String, Value>,
    pub destinations: Destinations,
    /// Makes the JS sink for a new client, if the user gave one.
    pub sink: Option<Arc<dyn Fn() -> CallbackSink + Send + Sync>>,
    /// Tells `index.js` about lost events (and deliveries in debug mode).
    pub notice: Option<NoticeHook>,
}

impl Recipe {
    /// A client; `open`: the store of the client it replaces, used again.
    fn build(
        &mut self,
        super_properties: Map<String, Value>,
        open: Option<Arc<dyn Store>>,
    ) -> Result<FixedHost, CoreError> {
        let mut config = Config::default()
            .for_binding(&self.options, ("sonde-node", env!("CARGO_PKG_VERSION")))?;
        config.super_properties.extend(super_properties);
        if let Some(notice) = self.notice.clone() {
            config.on_notice = Some(notice);
        }
        let sink = self.sink.clone();
        let (sonde, store) = self.destinations.rebuild_client(
            config,
            |config| {
                Ok(match sink {
                    Some(make) => config.sink(make()),
                    None => config,
                })
            },
            "store: 'sonde.db', console: true, jsonl: 'events.jsonl', sink: (events) => ..., or disabled: true to validate and send nothing",
            open,
        )?;
        self.options.insert(
            "anonymous_id".to_owned(),
            Value::String(sonde.anonymous_id().to_owned()),
        );
        Ok(FixedHost {
            sonde,
            store,
            options: self.options.clone(),
        })
    }
}

/// The current client and the recipe for the next.
pub struct Slot {
    current: RwLock<Arc<FixedHost>>,
    recipe: Mutex<Recipe>,
}

impl Slot {
    pub fn new(mut recipe: Recipe) -> Result<Self, CoreError> {
        let first = recipe.build(Map::new(), None)?;
        Ok(Self {
            current: RwLock::new(Arc::new(first)),
            recipe: Mutex::new(recipe),
        })
    }

    /// The client, its store and its options, as they are now.
    pub fn current(&self) -> Arc<FixedHost> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Merges `changes` (snake_case; `null` removes an option) into the options, builds a
    /// client with them and swaps it in; the previous one then delivers what it holds
    /// within `timeout`. Destinations and the binding's own options are refused, every one
    /// named; a bad option changes nothing.
    pub fn reconfigure(
        &self,
        changes: &Map<String, Value>,
        timeout: Duration,
    ) -> Result<(), CoreError> {
        // One reconfiguration at a time; tracking goes on meanwhile on the current client.
        let mut recipe = self.recipe.lock().unwrap_or_else(PoisonError::into_inner);
        let mut options = recipe.options.clone();
        merge_option_changes(&mut options, changes, |k| {
            DESTINATION_OPTIONS.contains(&k) || BINDING_OPTIONS.contains(&k)
        })
        .map_err(|fixed| {
            let violations = fixed
                .into_iter()
                .map(|k| {
                    Violation::new(
                        format!("/{k}"),
                        codes::INVALID_OPTION,
                        format!("{k} cannot change at run time: create a new client"),
                    )
                })
                .collect();
            CoreError::with_violations(ErrorKind::InvalidConfig, violations)
        })?;
        let before = std::mem::replace(&mut recipe.options, options);
        let previous = self.current();
        let next = match recipe.build(previous.sonde.super_properties(), previous.store.clone()) {
            Ok(next) => next,
            Err(e) => {
                recipe.options = before;
                return Err(e);
            }
        };
        // The new client's statistics continue the old one's: counters never go back.
        next.sonde.continue_from(&previous.sonde);
        let next = Arc::new(next);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&next);
        drop(recipe);
        let flushed = previous.sonde.flush(timeout);
        // Only its final numbers are kept, so the previous client is freed once unused.
        next.sonde.settle_predecessor();
        flushed
    }
}

/// The API's view of a Node client: the client as it was when the request arrived (or,
/// after a `PUT /config` in this request, the one that replaced it), and the slot, so
/// `PUT /config` can replace it.
pub struct NodeHost {
    now: Arc<FixedHost>,
    replaced_by: OnceLock<Arc<FixedHost>>,
    slot: Arc<Slot>,
}

impl NodeHost {
    pub fn new(slot: &Arc<Slot>) -> Self {
        Self {
            now: slot.current(),
            replaced_by: OnceLock::new(),
            slot: Arc::clone(slot),
        }
    }

    fn view(&self) -> &FixedHost {
        self.replaced_by.get().unwrap_or(&self.now)
    }
}

impl ApiHost for NodeHost {
    fn sonde(&self) -> &Sonde {
        &self.view().sonde
    }

    fn store(&self) -> Option<&dyn Store> {
        self.view().store.as_deref()
    }

    fn options(&self) -> Value {
        Value::Object(self.view().options.clone())
    }

    fn reconfigure(&self, changes: &Map<String, Value>) -> Result<(), CoreError> {
        self.slot.reconfigure(changes, API_RECONFIGURE_TIMEOUT)?;
        let _ = self.replaced_by.set(self.slot.current());
        Ok(())
    }
}
