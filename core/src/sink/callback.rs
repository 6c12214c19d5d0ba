//! A sink that calls a function: how bindings forward batches to Python, JS or anything else.

use super::{Sink, SinkBatch, SinkError};
use crate::platform::MaybeSendSync;

/// The function a [`CallbackSink`] calls for each batch.
pub trait DeliverFn: Fn(&SinkBatch<'_>) -> Result<(), SinkError> + MaybeSendSync {}
impl<F: Fn(&SinkBatch<'_>) -> Result<(), SinkError> + MaybeSendSync> DeliverFn for F {}

/// Delivers batches by calling a function.
pub struct CallbackSink {
    name: String,
    deliver: Box<dyn DeliverFn>,
}

impl CallbackSink {
    /// A sink named `name` that calls `deliver`.
    pub fn new(name: impl Into<String>, deliver: impl DeliverFn + 'static) -> Self {
        Self {
            name: name.into(),
            deliver: Box::new(deliver),
        }
    }
}

impl Sink for CallbackSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver(&self, batch: &SinkBatch<'_>) -> Result<(), SinkError> {
        (self.deliver)(batch)
    }
}
