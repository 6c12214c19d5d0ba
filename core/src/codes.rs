//! Stable violation codes. Every code here is documented in `docs/error-codes.md` (a test
//! checks that), and every runtime reports exactly these strings.

/// Not valid JSON.
pub const INVALID_JSON: &str = "invalid_json";
/// A field has the wrong JSON type.
pub const INVALID_TYPE: &str = "invalid_type";
/// `type` is not one of the six message types.
pub const UNKNOWN_MESSAGE_TYPE: &str = "unknown_message_type";
/// A field the message type needs is absent.
pub const MISSING_FIELD: &str = "missing_field";
/// Neither `userId` nor `anonymousId`.
pub const MISSING_IDENTITY: &str = "missing_identity";
/// An event, page or screen name is empty or too long.
pub const EVENT_NAME_LENGTH: &str = "event_name_length";
/// An id field is too long.
pub const ID_TOO_LONG: &str = "id_too_long";
/// Not an RFC 3339 date-time.
pub const TIMESTAMP_INVALID: &str = "timestamp_invalid";
/// A timestamp too far in the future.
pub const TIMESTAMP_IN_FUTURE: &str = "timestamp_in_future";
/// Objects or arrays nested too deep.
pub const DEPTH_EXCEEDED: &str = "depth_exceeded";
/// An object key is too long.
pub const KEY_TOO_LONG: &str = "key_too_long";
/// The serialized message is too large.
pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
/// The request body is too large.
pub const BATCH_TOO_LARGE: &str = "batch_too_large";
/// The request has too many messages.
pub const BATCH_TOO_MANY_MESSAGES: &str = "batch_too_many_messages";
/// The value's JSON type is not the schema's.
pub const TYPE_MISMATCH: &str = "type_mismatch";
/// A required property is absent.
pub const REQUIRED: &str = "required";
/// The value is not one of the allowed values.
pub const ENUM: &str = "enum";
/// A number below the minimum.
pub const MINIMUM: &str = "minimum";
/// A number above the maximum.
pub const MAXIMUM: &str = "maximum";
/// A string shorter than allowed.
pub const MIN_LENGTH: &str = "min_length";
/// A string longer than allowed.
pub const MAX_LENGTH: &str = "max_length";
/// A string not matching the pattern.
pub const PATTERN: &str = "pattern";
/// A property the schema does not allow.
pub const ADDITIONAL_PROPERTY: &str = "additional_property";
/// An event the tracking plan does not list.
pub const UNPLANNED_EVENT: &str = "unplanned_event";
/// A schema keyword or plan field Sonde does not support.
pub const UNSUPPORTED_KEYWORD: &str = "unsupported_keyword";
/// A schema keyword with a bad value.
pub const INVALID_SCHEMA: &str = "invalid_schema";
/// An unknown, mistyped or out-of-range option.
pub const INVALID_OPTION: &str = "invalid_option";
/// A store query with a bad limit, cursor, time range or property filter.
pub const INVALID_QUERY: &str = "invalid_query";

/// Every violation code, for documentation checks and binding tests.
pub const ALL: &[&str] = &[
    INVALID_JSON,
    INVALID_TYPE,
    UNKNOWN_MESSAGE_TYPE,
    MISSING_FIELD,
    MISSING_IDENTITY,
    EVENT_NAME_LENGTH,
    ID_TOO_LONG,
    TIMESTAMP_INVALID,
    TIMESTAMP_IN_FUTURE,
    DEPTH_EXCEEDED,
    KEY_TOO_LONG,
    PAYLOAD_TOO_LARGE,
    BATCH_TOO_LARGE,
    BATCH_TOO_MANY_MESSAGES,
    TYPE_MISMATCH,
    REQUIRED,
    ENUM,
    MINIMUM,
    MAXIMUM,
    MIN_LENGTH,
    MAX_LENGTH,
    PATTERN,
    ADDITIONAL_PROPERTY,
    UNPLANNED_EVENT,
    UNSUPPORTED_KEYWORD,
    INVALID_SCHEMA,
    INVALID_OPTION,
    INVALID_QUERY,
];
