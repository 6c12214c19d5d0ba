//! Event processing inside the client: normalization, sampling, the `before_send` hook,
//! validation, redaction, statistics, serialization and enqueueing (`Inner::process`), and
//! the manual-delivery and shutdown steps the public `Sonde` methods delegate to.

// The client's own module: its types, imports and helpers are this file's too.
use super::*;

impl Inner {
    pub(super) fn require_manual(&self) -> Result<()> {
        if self.mode == DeliveryMode::Manual {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Unsupported,
                "take_batch/ack/nack need manual delivery; this client has a worker",
            ))
        }
    }

    pub(super) fn settle(
        &self,
        id: u64,
        failed: Option<bool>,
        retry_after_ms: Option<u64>,
    ) -> Option<crate::buffer::Completion> {
        let shared = &self.shared;
        let now = shared.mono_ms();
        let jitter = shared.jitter.next_f64();
        let mut buf = shared.buffer();
        let completion = buf.settle(id, failed, now, jitter, retry_after_ms);
        shared.release(buf);
        completion
    }

    pub(super) fn normalize(&self, m: &mut Message, origin: Origin, now_ms: i64) {
        if m.message_id.is_none() {
            m.message_id = Some(self.ids.uuid_v7(now_ms));
        }
        match origin {
            Origin::Local => {
                if m.timestamp.is_none() {
                    m.timestamp = Some(Timestamp::from_millis(now_ms));
                }
                let empty = |v: &Option<String>| v.as_deref().is_none_or(str::is_empty);
                if empty(&m.user_id) && empty(&m.anonymous_id) {
                    if !self.require_person {
                        m.anonymous_id = Some(self.anonymous_id.clone());
                    } else if m.kind == MessageType::Track
                        && m.event
                            .as_deref()
                            .is_some_and(crate::event::reserved::is_instrumentation)
                    {
                        m.anonymous_id = Some(crate::event::reserved::PERSONLESS_ID.to_owned());
                    }
                    // Otherwise validation refuses it: a server event must name its person.
                }
                let defaults = self
                    .context_defaults
                    .read()
                    .unwrap_or_else(PoisonError::into_inner);
                if !defaults.is_empty() && m.raw.context.is_none() {
                    for (k, v) in defaults.iter() {
                        if !m.context.contains_key(k) {
                            m.context.insert(k.clone(), v.clone());
                        }
                    }
                }
                if matches!(
                    m.kind,
                    MessageType::Track | MessageType::Page | MessageType::Screen
                ) {
                    let sp = self
                        .super_properties
                        .read()
                        .unwrap_or_else(PoisonError::into_inner);
                    if !sp.is_empty() && m.raw.properties.is_some() {
                        // Merging needs the map; text set by `with_properties_json` was
                        // checked to be an object, so parsing it cannot fail.
                        let _ = m.materialize_properties();
                    }
                    for (k, v) in sp.iter() {
                        if !m.properties.contains_key(k) {
                            m.properties.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            Origin::Ingest { batch_sent_at, .. } => {
                let received = Timestamp::from_millis(now_ms);
                m.received_at = Some(received);
                let sent_at = m.sent_at.or(batch_sent_at);
                m.timestamp = Some(match (m.timestamp, sent_at) {
                    // The client's clock may be off: shift its event time by the difference
                    // between when it says it sent and when we received.
                    (Some(ts), Some(sent)) => Timestamp::from_millis(
                        ts.as_millis() + (received.as_millis() - sent.as_millis()),
                    ),
                    (Some(ts), None) => ts,
                    (None, _) => received,
                });
            }
        }
    }

    /// The rules raw objects are scanned with: the validator's limits and the redaction list.
    pub(super) fn scan_rules(&self) -> crate::event::reader::ScanRules<'_> {
        let limits = self.validator.limits();
        crate::event::reader::ScanRules {
            max_depth: limits.max_depth,
            max_key_length: limits.max_key_length,
            redactor: Some(&self.redactor),
            id: self.rules_id,
        }
    }

    /// Parses the raw objects of an ingested message that something must look inside, and
    /// keeps the rest as text (see `event::raw`). What stays raw has passed the depth,
    /// key-length and redaction checks in one scan of its text.
    pub(super) fn prepare_raw(&self, m: &mut Message) -> std::result::Result<(), Vec<Violation>> {
        if m.raw.is_empty() {
            return Ok(());
        }
        if self.before_send.is_some() || self.redactor.changes_ips() {
            return m.materialize_all();
        }
        let rules = self.scan_rules();
        let scan =
            |raw: &Option<crate::event::raw::RawObject>| raw.as_ref().map(|r| r.scan_with(&rules));
        let keeps = |s: Option<crate::event::raw::RawScan>| s.is_none_or(|s| s.keeps_raw());
        let schema_reads = m.kind == MessageType::Track
            && m.event
                .as_deref()
                .is_some_and(|e| self.validator.reads_properties(e));
        let mut problems = Vec::new();
        if !keeps(scan(&m.raw.properties)) {
            problems.extend(m.materialize_properties().err());
        } else if schema_reads {
            // A reserved event's built-in schema and statistics read the map; the text
            // stays what is written, since no hook or redaction will change it (either
            // would have parsed everything above). A tracking plan reads the text itself.
            problems.extend(m.read_properties().err());
        }
        if !keeps(scan(&m.raw.traits)) {
            problems.extend(m.materialize_traits().err());
        }
        if !keeps(scan(&m.raw.context)) {
            problems.extend(m.materialize_context().err());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    pub(super) fn sampled_out(&self, m: &Message) -> bool {
        let rate = if self.sample_rates.is_empty() {
            self.sample_rate
        } else {
            self.sample_rates
                .get(m.stats_name())
                .copied()
                .unwrap_or(self.sample_rate)
        };
        if rate >= 1.0 {
            return false;
        }
        let id = m.message_id.as_deref().unwrap_or("");
        let position = stable_hash(id.as_bytes()) as f64 / 18_446_744_073_709_551_616.0;
        position >= rate
    }

    /// The pipeline. `pre_errors` are problems found while parsing an ingested message.
    pub(super) fn process(
        &self,
        mut m: Message,
        origin: Origin,
        pre_errors: Vec<Violation>,
    ) -> Result<Receipt> {
        let shared = &self.shared;
        if shared.is_closed() {
            return Err(Error::new(ErrorKind::ShutDown, "the client was shut down"));
        }
        let now = shared.clock.now_ms();
        self.normalize(&mut m, origin, now);
        if pre_errors.is_empty() && self.sampled_out(&m) {
            shared.buffer().record_drop(DropReason::Sampled);
            return Ok(Receipt {
                message_id: m.message_id.take().unwrap_or_default(),
                disposition: Disposition::Sampled,
                warnings: Vec::new(),
            });
        }
        let mut pre_errors = pre_errors;
        if let Err(problems) = self.prepare_raw(&mut m) {
            pre_errors.extend(problems);
        }
        if let (Some(hook), true) = (&self.before_send, pre_errors.is_empty()) {
            // The hook takes the message; keep its id for the receipt if it drops it.
            let message_id = m.message_id.clone().unwrap_or_default();
            match hook(m) {
                Some(changed) => {
                    m = changed;
                    // A hook that removed the id or time does not get an event without them.
                    if m.message_id.is_none() {
                        m.message_id = Some(self.ids.uuid_v7(now));
                    }
                    m.timestamp.get_or_insert(Timestamp::from_millis(now));
                }
                None => {
                    shared.buffer().record_drop(DropReason::BeforeSend);
                    return Ok(Receipt {
                        message_id,
                        disposition: Disposition::Filtered,
                        warnings: Vec::new(),
                    });
                }
            }
        }
        let checked = self.validator.check(&m, now);
        if !pre_errors.is_empty() || !checked.errors.is_empty() {
            let mut errors = pre_errors;
            errors.extend(checked.errors);
            shared.buffer().record_drop(DropReason::Invalid);
            return Err(Error::with_violations(ErrorKind::InvalidEvent, errors));
        }
        self.redactor.apply(&mut m);
        let json = match serialize(&m, &self.library_json) {
            Ok(json) => json,
            Err(e) => {
                shared.buffer().record_drop(DropReason::Invalid);
                return Err(Error::new(
                    ErrorKind::InvalidEvent,
                    format!("cannot serialize: {e}"),
                ));
            }
        };
        if let Some(v) = self.validator.check_size(json.len()) {
            shared.buffer().record_drop(DropReason::Oversize);
            return Err(Error::with_violations(ErrorKind::PayloadTooLarge, vec![v]));
        }
        if self.disabled {
            return Ok(Receipt {
                message_id: m.message_id.take().unwrap_or_default(),
                disposition: Disposition::Disabled,
                warnings: checked.warnings,
            });
        }
        let public = matches!(origin, Origin::Ingest { public: true, .. });
        lock(&shared.stats).record(&m, now, public);
        let warnings = checked.warnings;
        // Ingested events were acknowledged to their sender: never evicted to make room.
        let keep_queued = matches!(origin, Origin::Ingest { .. });
        let disposition = self.enqueue(json, warnings.len() as u64, keep_queued)?;
        Ok(Receipt {
            message_id: m.message_id.take().unwrap_or_default(),
            disposition,
            warnings,
        })
    }

    pub(super) fn enqueue(
        &self,
        json: Box<str>,
        plan_violations: u64,
        keep_queued: bool,
    ) -> Result<Disposition> {
        let shared = &self.shared;
        let now = shared.mono_ms();
        let mut buf = shared.buffer();
        buf.record_plan_violations(plan_violations);
        if let OverflowPolicy::Block(timeout) = self.overflow {
            buf = delivery::wait_for_room(shared, buf, Buffer::charge(json.len()), timeout);
        }
        let outcome = buf.offer(json, now, keep_queued);
        let wake = outcome.is_ok() && buf.should_wake_worker(now);
        shared.release(buf);
        if wake {
            shared.delivery.wake_worker();
        }
        match outcome {
            Ok(_) => Ok(Disposition::Queued),
            Err(PushError::Full) => Ok(Disposition::QueueFull),
            Err(PushError::Oversize) => Err(Error::new(
                ErrorKind::PayloadTooLarge,
                "event is larger than the whole buffer",
            )),
            Err(PushError::Closed) => {
                Err(Error::new(ErrorKind::ShutDown, "the client was shut down"))
            }
        }
    }

    pub(super) fn shutdown(&self, timeout: Duration) -> Result<()> {
        let result = delivery::shutdown(&self.shared, self.mode, timeout);
        // Files made durable; nothing waits here (the stopping worker gave each sink its
        // time to send on).
        for sink in &self.shared.sinks {
            let _ = sink.flush(Duration::ZERO);
        }
        result
    }
}

thread_local! {
    /// Reused serialization buffer: each event then costs one exact-size allocation.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(1024));
}

/// Serializes a message (with `context.library`) into an exact-size string.
fn serialize(m: &Message, library_json: &[u8]) -> std::result::Result<Box<str>, String> {
    let write = |buf: &mut Vec<u8>| -> std::result::Result<Box<str>, String> {
        buf.clear();
        m.write_json_with(library_json, buf);
        let text = std::str::from_utf8(buf).map_err(|e| e.to_string())?;
        Ok(Box::from(text))
    };
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            let out = write(&mut buf);
            // Do not keep a huge buffer alive after one huge event.
            if buf.capacity() > 64 * 1024 {
                *buf = Vec::with_capacity(1024);
            }
            out
        }
        Err(_) => write(&mut Vec::with_capacity(512)),
    })
}
