//! The event: Segment Spec message shape, camelCase on the wire.

mod envelope;
pub(crate) mod json;
mod number;
mod parse;
pub(crate) mod raw;
pub(crate) mod reader;
pub mod reserved;
mod timestamp;
mod writer;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

pub use envelope::{calls, object_arg, Envelope};

use crate::codes;
use crate::error::Violation;

pub use number::{set_float_text, FloatText};
pub use parse::parse_message;
pub(crate) use parse::type_name as parse_type_name;
pub(crate) use parse::Draft;
pub use timestamp::Timestamp;
pub use writer::{ObjectWriter, WrittenObject};

/// JSON object type used for properties, traits and context.
pub type Properties = Map<String, Value>;

/// Removes `key` from `map` by rebuilding it with inserts: `BTreeMap::remove`'s rebalancing
/// code is 2.3 KB of the browser's `.wasm` gzip, and the maps this serves (super properties,
/// a dropped address) are small.
pub(crate) fn remove_key(map: &mut Properties, key: &str) {
    if map.contains_key(key) {
        let mut kept = Properties::new();
        for (k, v) in std::mem::take(map) {
            if k != key {
                kept.insert(k, v);
            }
        }
        *map = kept;
    }
}

/// The six Segment message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageType {
    /// Something a user or system did (`event` names it).
    Track,
    /// A web page view.
    Page,
    /// An app screen view.
    Screen,
    /// Who the user is (`traits`).
    Identify,
    /// The user's group, company or account (`groupId`, `traits`).
    Group,
    /// Merges `previousId` into `userId`.
    Alias,
}

impl MessageType {
    /// Every type, in Segment's order.
    pub const ALL: [MessageType; 6] = [
        MessageType::Track,
        MessageType::Page,
        MessageType::Screen,
        MessageType::Identify,
        MessageType::Group,
        MessageType::Alias,
    ];

    /// The wire name (`track`, `page`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageType::Track => "track",
            MessageType::Page => "page",
            MessageType::Screen => "screen",
            MessageType::Identify => "identify",
            MessageType::Group => "group",
            MessageType::Alias => "alias",
        }
    }

    /// The type with this wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// `context.library`: which SDK produced the event. Added when the message is serialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Library {
    /// SDK name, e.g. `sonde-python`.
    pub name: String,
    /// SDK version.
    pub version: String,
}

impl Default for Library {
    fn default() -> Self {
        Self {
            name: "sonde-rust".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// One message. Fields that a type does not use stay `None` / empty.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The message type (`type` on the wire).
    pub kind: MessageType,
    /// `track`: the event name.
    pub event: Option<String>,
    /// `page` / `screen`: the page or screen name.
    pub name: Option<String>,
    /// Idempotency key; a UUIDv7 is generated when absent.
    pub message_id: Option<String>,
    /// The known user.
    pub user_id: Option<String>,
    /// The device or visitor when the user is unknown.
    pub anonymous_id: Option<String>,
    /// Sonde extension: the session the event belongs to.
    pub session_id: Option<String>,
    /// `group`: the group (account, company) id.
    pub group_id: Option<String>,
    /// `alias`: the id being merged into `user_id`.
    pub previous_id: Option<String>,
    /// When the event happened (client clock); set when absent.
    pub timestamp: Option<Timestamp>,
    /// When the client sent it (for clock-skew correction).
    pub sent_at: Option<Timestamp>,
    /// When the collector received it.
    pub received_at: Option<Timestamp>,
    /// Event properties (`track`, `page`, `screen`).
    pub properties: Properties,
    /// User or group traits (`identify`, `group`).
    pub traits: Properties,
    /// Context: library, ip, user agent, page, locale, ...
    pub context: Properties,
    /// Other top-level fields (for example `integrations`), passed through untouched.
    pub extra: Properties,
    /// Objects still held as JSON text: ingested ones, and properties set with
    /// [`Message::with_properties_json`].
    pub(crate) raw: raw::RawFields,
}

impl Message {
    /// An empty message of this type.
    pub fn new(kind: MessageType) -> Self {
        Self {
            kind,
            event: None,
            name: None,
            message_id: None,
            user_id: None,
            anonymous_id: None,
            session_id: None,
            group_id: None,
            previous_id: None,
            timestamp: None,
            sent_at: None,
            received_at: None,
            properties: Properties::new(),
            traits: Properties::new(),
            context: Properties::new(),
            extra: Properties::new(),
            raw: raw::RawFields::default(),
        }
    }

    /// A `track` event: something a user or system did.
    pub fn track(event: impl Into<String>, properties: Properties) -> Self {
        let mut m = Self::new(MessageType::Track);
        m.event = Some(event.into());
        m.properties = properties;
        m
    }

    /// A `page` view (web).
    pub fn page(name: Option<String>, properties: Properties) -> Self {
        let mut m = Self::new(MessageType::Page);
        m.name = name;
        m.properties = properties;
        m
    }

    /// A `screen` view (apps).
    pub fn screen(name: Option<String>, properties: Properties) -> Self {
        let mut m = Self::new(MessageType::Screen);
        m.name = name;
        m.properties = properties;
        m
    }

    /// Ties a user id to traits.
    pub fn identify(user_id: impl Into<String>, traits: Properties) -> Self {
        let mut m = Self::new(MessageType::Identify);
        m.user_id = Some(user_id.into());
        m.traits = traits;
        m
    }

    /// Ties the user to a group.
    pub fn group(group_id: impl Into<String>, traits: Properties) -> Self {
        let mut m = Self::new(MessageType::Group);
        m.group_id = Some(group_id.into());
        m.traits = traits;
        m
    }

    /// Merges `previous_id` into `user_id`.
    pub fn alias(user_id: impl Into<String>, previous_id: impl Into<String>) -> Self {
        let mut m = Self::new(MessageType::Alias);
        m.user_id = Some(user_id.into());
        m.previous_id = Some(previous_id.into());
        m
    }

    /// Sets `userId`.
    pub fn with_user_id(mut self, id: impl Into<String>) -> Self {
        self.user_id = Some(id.into());
        self
    }

    /// Sets `anonymousId`.
    pub fn with_anonymous_id(mut self, id: impl Into<String>) -> Self {
        self.anonymous_id = Some(id.into());
        self
    }

    /// Sets `sessionId`.
    pub fn with_session_id(mut self, id: impl Into<String>) -> Self {
        self.session_id = Some(id.into());
        self
    }

    /// Sets `messageId`.
    pub fn with_message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = Some(id.into());
        self
    }

    /// Sets `timestamp`.
    pub fn with_timestamp(mut self, t: Timestamp) -> Self {
        self.timestamp = Some(t);
        self
    }

    /// Replaces `context`.
    pub fn with_context(mut self, context: Properties) -> Self {
        self.context = context;
        self
    }

    /// Sets the properties from JSON text (an object), kept as text through the pipeline as
    /// ingested properties are: a binding that writes its native dictionary straight to
    /// JSON skips building a map here and printing it again when the event is serialized.
    /// Refused with a violation if the text is not a JSON object. (A binding holding the
    /// client uses [`crate::Sonde::with_properties_json`], which also scans the text under
    /// the client's rules in the same pass.)
    pub fn with_properties_json(self, json: String) -> Result<Self, crate::Error> {
        self.with_properties_text(json, &reader::ScanRules::NONE)
    }

    pub(crate) fn with_properties_text(
        mut self,
        json: String,
        rules: &reader::ScanRules<'_>,
    ) -> Result<Self, crate::Error> {
        let refuse = |why: String| {
            crate::Error::with_violations(
                crate::ErrorKind::InvalidEvent,
                vec![Violation::new("/properties", codes::INVALID_TYPE, why)],
            )
        };
        if !json.trim_start().starts_with('{') {
            return Err(refuse("properties must be a JSON object".to_owned()));
        }
        let raw = match raw::RawObject::checked(json, rules) {
            Ok(raw) => raw,
            Err((e, json)) => {
                return Err(refuse(format!(
                    "properties are not valid JSON: {}",
                    e.describe(json.as_bytes())
                )))
            }
        };
        self.properties = Properties::new();
        self.raw.properties = Some(raw);
        Ok(self)
    }

    /// Sets the properties a binding wrote with a client's [`ObjectWriter`], kept as text
    /// through the pipeline (no map built, no text read again when sent through that client).
    pub fn with_written_properties(mut self, properties: WrittenObject) -> Self {
        self.properties = Properties::new();
        self.raw.properties = Some(properties.0);
        self
    }

    /// Parses the raw `properties` (see [`raw`]); a parser refusal is reported as a violation.
    pub(crate) fn materialize_properties(&mut self) -> Result<(), Violation> {
        if let Some(raw) = self.raw.properties.take() {
            self.properties = parse_field(&raw, "/properties")?;
        }
        Ok(())
    }

    /// Parses the raw `properties` into the map for reading (schema checks, statistics)
    /// and keeps the text, which is still what is written: used when nothing will change
    /// the properties, so the two stay the same object and writing the text is cheaper
    /// than writing the map.
    pub(crate) fn read_properties(&mut self) -> Result<(), Violation> {
        if let Some(raw) = &self.raw.properties {
            self.properties = parse_field(raw, "/properties")?;
        }
        Ok(())
    }

    /// Parses the raw `traits`.
    pub(crate) fn materialize_traits(&mut self) -> Result<(), Violation> {
        if let Some(raw) = self.raw.traits.take() {
            self.traits = parse_field(&raw, "/traits")?;
        }
        Ok(())
    }

    /// Parses the raw `context`.
    pub(crate) fn materialize_context(&mut self) -> Result<(), Violation> {
        if let Some(raw) = self.raw.context.take() {
            self.context = parse_field(&raw, "/context")?;
        }
        Ok(())
    }

    /// Parses every raw object, reporting every refusal.
    pub(crate) fn materialize_all(&mut self) -> Result<(), Vec<Violation>> {
        let problems: Vec<Violation> = [
            self.materialize_properties(),
            self.materialize_traits(),
            self.materialize_context(),
        ]
        .into_iter()
        .filter_map(Result::err)
        .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The name statistics group this message under: the event name for `track`, else the type.
    pub fn stats_name(&self) -> &str {
        match (self.kind, &self.event) {
            (MessageType::Track, Some(e)) => e,
            _ => self.kind.as_str(),
        }
    }

    /// Serializes to compact JSON, adding `context.library` when the context has none.
    pub fn write_json(&self, library: Option<&Library>, out: &mut Vec<u8>) {
        let fragment = library.map(json::library_fragment);
        json::write_message(self, fragment.as_deref(), out);
    }

    /// [`Message::write_json`] with the library already serialized (the client does it once).
    pub(crate) fn write_json_with(&self, library_fragment: &[u8], out: &mut Vec<u8>) {
        json::write_message(self, Some(library_fragment), out);
    }

    /// The same bytes through serde (the reference the fast writer is tested against).
    #[cfg(test)]
    pub(crate) fn serde_json_bytes(&self, library: Option<&Library>) -> Vec<u8> {
        serde_json::to_vec(&WireMessage { msg: self, library }).unwrap_or_default()
    }

    /// Compact JSON without library injection.
    pub fn to_json_string(&self) -> String {
        let mut out = Vec::with_capacity(256);
        self.write_json(None, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// The message as a JSON value (with `library` added when given).
    pub fn to_value(&self, library: Option<&Library>) -> Value {
        serde_json::to_value(WireMessage { msg: self, library }).unwrap_or(Value::Null)
    }
}

/// A raw object field parsed into its map; a refusal is an `invalid_json` violation at `at`.
fn parse_field(raw: &raw::RawObject, at: &str) -> Result<Properties, Violation> {
    raw::parse_object(raw).map_err(|e| Violation::new(at, codes::INVALID_JSON, e))
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireMessage {
            msg: self,
            library: None,
        }
        .serialize(serializer)
    }
}

struct WireMessage<'a> {
    msg: &'a Message,
    library: Option<&'a Library>,
}

impl Serialize for WireMessage<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let m = self.msg;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", m.kind.as_str())?;
        let opt_fields: [(&str, &Option<String>); 8] = [
            ("event", &m.event),
            ("name", &m.name),
            ("messageId", &m.message_id),
            ("userId", &m.user_id),
            ("anonymousId", &m.anonymous_id),
            ("sessionId", &m.session_id),
            ("groupId", &m.group_id),
            ("previousId", &m.previous_id),
        ];
        for (key, value) in opt_fields {
            if let Some(v) = value {
                map.serialize_entry(key, v)?;
            }
        }
        for (key, value) in [
            ("timestamp", m.timestamp),
            ("sentAt", m.sent_at),
            ("receivedAt", m.received_at),
        ] {
            if let Some(v) = value {
                map.serialize_entry(key, &v)?;
            }
        }
        let props_always = matches!(
            m.kind,
            MessageType::Track | MessageType::Page | MessageType::Screen
        );
        match &m.raw.properties {
            Some(raw) => map.serialize_entry("properties", raw)?,
            None if props_always || !m.properties.is_empty() => {
                map.serialize_entry("properties", &m.properties)?;
            }
            None => {}
        }
        let traits_always = matches!(m.kind, MessageType::Identify | MessageType::Group);
        match &m.raw.traits {
            Some(raw) => map.serialize_entry("traits", raw)?,
            None if traits_always || !m.traits.is_empty() => {
                map.serialize_entry("traits", &m.traits)?;
            }
            None => {}
        }
        match &m.raw.context {
            // Raw context only exists inside the pipeline, which writes with `write_json`.
            Some(raw) => map.serialize_entry("context", raw)?,
            None => map.serialize_entry(
                "context",
                &ContextWithLibrary {
                    context: &m.context,
                    library: self.library.filter(|_| !m.context.contains_key("library")),
                },
            )?,
        }
        for (key, value) in &m.extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

struct ContextWithLibrary<'a> {
    context: &'a Properties,
    library: Option<&'a Library>,
}

impl Serialize for ContextWithLibrary<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let mut pending = self.library;
        for (key, value) in self.context {
            // Keep keys sorted like the rest of the map so output is stable.
            if let Some(lib) = pending {
                if key.as_str() > "library" {
                    map.serialize_entry("library", lib)?;
                    pending = None;
                }
            }
            map.serialize_entry(key, value)?;
        }
        if let Some(lib) = pending {
            map.serialize_entry("library", lib)?;
        }
        map.end()
    }
}
