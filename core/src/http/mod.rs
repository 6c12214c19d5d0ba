//! Everything a server decides about a request, once (feature `http`, native targets):
//! [`RequestRecorder`] for the middlewares that time an application's requests, and [`Api`]
//! for the analytics endpoints and the Segment-compatible collector. Python's FastAPI
//! adapter, Node's Express/Fastify/`node:http` adapters and any Rust host hand their
//! framework's request to these and add nothing of their own.

mod api;
mod options;
mod recorder;
mod wire;

pub use api::{runs_inline, runs_inline_for, serves, Api, ApiHost, API_OPTION_NAMES};
pub use recorder::{
    Recorded, RequestError, RequestFacts, RequestRecorder, MAX_ERROR_MESSAGE, MAX_ERROR_STACK,
    RECORDER_OPTION_NAMES, UNMATCHED,
};
pub use wire::{percent_decode, query_pairs, HttpRequest, HttpResponse, Problem};

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::Sonde;
use crate::store::Store;

/// An [`ApiHost`] for a client whose options do not change at run time: `PUT /config`
/// answers `unsupported`.
#[derive(Clone)]
pub struct FixedHost {
    /// The client.
    pub sonde: Sonde,
    /// Its store, if any.
    pub store: Option<Arc<dyn Store>>,
    /// The options shown by `GET /config`.
    pub options: Map<String, Value>,
}

impl ApiHost for FixedHost {
    fn sonde(&self) -> &Sonde {
        &self.sonde
    }

    fn store(&self) -> Option<&dyn Store> {
        self.store.as_deref()
    }

    fn options(&self) -> Value {
        Value::Object(self.options.clone())
    }

    fn reconfigure(&self, _changes: &Map<String, Value>) -> Result<()> {
        Err(Error::new(
            ErrorKind::Unsupported,
            "this host cannot change options at run time: restart it with new options",
        ))
    }
}
