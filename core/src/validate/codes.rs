//! Stable violation codes. Every code here is documented in `docs/error-codes.md` (a test
//! checks that), and every runtime reports exactly these strings.

pub const INVALID_JSON: &str = "invalid_json";
pub const INVALID_TYPE: &str = "invalid_type";
pub const UNKNOWN_MESSAGE_TYPE: &str = "unknown_message_type";
pub const MISSING_FIELD: &str = "missing_field";
pub const MISSING_IDENTITY: &str = "missing_identity";
pub const EVENT_NAME_LENGTH: &str = "event_name_length";
pub const ID_TOO_LONG: &str = "id_too_long";
pub const TIMESTAMP_INVALID: &str = "timestamp_invalid";
pub const TIMESTAMP_IN_FUTURE: &str = "timestamp_in_future";
pub const DEPTH_EXCEEDED: &str = "depth_exceeded";
pub const KEY_TOO_LONG: &str = "key_too_long";
pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
pub const BATCH_TOO_LARGE: &str = "batch_too_large";
pub const BATCH_TOO_MANY_MESSAGES: &str = "batch_too_many_messages";
pub const TYPE_MISMATCH: &str = "type_mismatch";
pub const REQUIRED: &str = "required";
pub const ENUM: &str = "enum";
pub const MINIMUM: &str = "minimum";
pub const MAXIMUM: &str = "maximum";
pub const MIN_LENGTH: &str = "min_length";
pub const MAX_LENGTH: &str = "max_length";
pub const PATTERN: &str = "pattern";
pub const ADDITIONAL_PROPERTY: &str = "additional_property";
pub const UNPLANNED_EVENT: &str = "unplanned_event";
pub const UNSUPPORTED_KEYWORD: &str = "unsupported_keyword";
pub const INVALID_SCHEMA: &str = "invalid_schema";
pub const INVALID_OPTION: &str = "invalid_option";

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
];
