//! Extractors for request bodies, query strings and path ids that answer bad input in the
//! contract's shapes: 415 for a body that is not JSON, 400 for malformed JSON, 413 for a body over
//! the limit, 422 with FastAPI's field list for well-formed input of the wrong shape, and 400
//! `INVALID_ID` for a malformed id, and 408 for a body that does not arrive within
//! [`BODY_READ_TIMEOUT`].
//!
//! Bodies are deserialized into typed structs (never a loose document that could smuggle
//! `{"$ne": null}` into a query) and then checked by their [`Validate`] impl.

mod body;
mod decode;
mod fields;
mod path;
mod query;

pub use body::{BODY_LIMIT_BYTES, BODY_READ_TIMEOUT, FormBody, JsonBody, read_raw_body};
pub use decode::from_json;
pub use fields::{empty_as_none, empty_as_none_parsed, whole_number};
pub use path::{ID_PATTERN, IdOf, PathId, parse_id};
pub use query::QueryParams;
