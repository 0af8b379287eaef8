//! Extractors for request bodies, query strings and path ids that answer bad input in the
//! contract's shapes: 415 for a body that is not JSON, 400 for malformed JSON, 413 for a body over
//! the limit, 422 with FastAPI's field list for well-formed input of the wrong shape, and 400
//! `INVALID_ID` for a malformed id, and 408 for a body that does not arrive within
//! [`BODY_READ_TIMEOUT`].
//!
//! Bodies are deserialized into typed structs (never a loose document that could smuggle
//! `{"$ne": null}` into a query) and then checked by their [`Validate`] impl.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header, request::Parts},
};
use std::time::Duration;

use mongodb::bson::oid::ObjectId;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult, FieldError, Loc};

/// Re-exported where the services have always imported it from; it lives in
/// [`crate::validate`] so that validated types need not depend on the extractors.
use crate::validate::Validate;

/// For `#[serde(default, deserialize_with = "common::extract::empty_as_none")]` on an optional
/// query parameter: `?status=` (as a form sends an unset filter) means no filter, like an absent
/// parameter, instead of a filter on the empty string or a 422.
pub fn empty_as_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    use serde::{Deserialize, de::value::StrDeserializer};
    match Option::<String>::deserialize(deserializer)?.as_deref() {
        None | Some("") => Ok(None),
        Some(value) => T::deserialize(StrDeserializer::<D::Error>::new(value)).map(Some),
    }
}

/// Like [`empty_as_none`], for values read from their text with [`FromStr`](std::str::FromStr),
/// such as numbers and booleans (`?min_price=9.5`, `?in_stock=true`), which serde does not parse
/// from a query string's text on its own once it has been read as a string.
pub fn empty_as_none_parsed<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    use serde::{Deserialize, de::Error};
    match Option::<String>::deserialize(deserializer)?.as_deref() {
        None | Some("") => Ok(None),
        Some(value) => value.parse().map(Some).map_err(D::Error::custom),
    }
}

/// For `#[serde(deserialize_with = "common::extract::whole_number")]` on an `i64` body field:
/// a JSON number with no fractional part is that integer, so `1.0` and `1e3` are read as `1` and
/// `1000`, as the FastAPI system read them (**compat**). A fractional number (`1.5`), a number
/// beyond `i64`, or anything that is not a number is refused, and the extractor answers 422 at
/// the field's `loc`. The field stays an `i64`, so the OpenAPI type stays `integer`.
pub fn whole_number<'de, D>(deserializer: D) -> Result<i64, D::Error>
where
    D: serde::Deserializer<'de>,
{
    deserializer.deserialize_any(WholeNumberVisitor)
}

struct WholeNumberVisitor;

/// 2⁶³, the first whole f64 above `i64::MAX`; `-2⁶³` is `i64::MIN` exactly.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

impl serde::de::Visitor<'_> for WholeNumberVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<i64, E> {
        Ok(value)
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<i64, E> {
        i64::try_from(value).map_err(|_| E::custom(OUT_OF_RANGE))
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<i64, E> {
        if !value.is_finite() || !(-TWO_POW_63..TWO_POW_63).contains(&value) {
            Err(E::custom(OUT_OF_RANGE))
        } else if value.fract() != 0.0 {
            Err(E::custom(
                "Input should be a valid integer, got a number with a fractional part",
            ))
        } else {
            // Whole and within range, so the cast is exact.
            Ok(value as i64)
        }
    }
}

const OUT_OF_RANGE: &str = "Input should be a whole number from -2^63 to 2^63 - 1";

/// How long [`JsonBody`] waits for the whole body once the headers have arrived; a body still
/// incomplete then (a stalled or trickling upload) is answered 408 `REQUEST_TIMEOUT`.
///
/// It is a constant, shorter than the default `REQUEST_TIMEOUT_SECS` (10 s), so a slow client is
/// told apart from a slow database (503). With `REQUEST_TIMEOUT_SECS` set below 5 s, the request
/// timeout answers first.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest request body accepted (contract: 64 KiB, larger → 413); the platform's router
/// sets it as every route's default limit.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// A JSON request body of type `T`, deserialized and validated.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared = has_json_content_type(req.headers());
        let bytes = read_declared_body(
            req,
            state,
            declared,
            "Expected a JSON body with Content-Type: application/json",
        )
        .await?;
        let value: T = from_json(&bytes)?;
        value.validate()?;
        Ok(Self(value))
    }
}

/// The body of a request whose `Content-Type` was `declared` as the extractor's format (else 415
/// with `refusal`), read as every body is: within [`BODY_READ_TIMEOUT`] (408), at most the
/// services' 64 KiB (413), and with the request's database deadline paused, since a slow upload
/// is the client's time, not the database's.
async fn read_declared_body<S: Send + Sync>(
    req: Request,
    state: &S,
    declared: bool,
    refusal: &'static str,
) -> ApiResult<Bytes> {
    if !declared {
        return Err(ApiError::client(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            refusal,
        ));
    }
    crate::budget::paused(read_body(req, state, BODY_READ_TIMEOUT, BODY_LIMIT_BYTES)).await
}

fn has_json_content_type(headers: &HeaderMap) -> bool {
    has_content_type(headers, "application", "json")
        || content_type(headers).is_some_and(|(kind, subtype)| {
            kind.eq_ignore_ascii_case("application")
                && subtype.to_ascii_lowercase().ends_with("+json")
        })
}

/// Whether the request's `Content-Type` is `kind/subtype` (in any case, parameters ignored).
fn has_content_type(headers: &HeaderMap, kind: &str, subtype: &str) -> bool {
    content_type(headers)
        .is_some_and(|(k, s)| k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(subtype))
}

/// The request's `Content-Type` without its parameters, as type and subtype.
fn content_type(headers: &HeaderMap) -> Option<(&str, &str)> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.split_once('/')
}

/// A whole request body that is not JSON (such as an image), read as [`JsonBody`] reads its own:
/// waiting for it is the client's time, not the database's ([`crate::budget::paused`]); a body
/// that has not arrived within [`BODY_READ_TIMEOUT`] is 408 `REQUEST_TIMEOUT`, one over
/// `max_bytes` 413 `PAYLOAD_TOO_LARGE`, one that cannot be read 400 `INVALID_BODY`.
///
/// The route must raise its own `DefaultBodyLimit` to `max_bytes`: the services' 64 KiB
/// ([`BODY_LIMIT_BYTES`]) applies otherwise.
pub async fn read_raw_body<S: Send + Sync>(
    req: Request,
    state: &S,
    max_bytes: usize,
) -> ApiResult<Bytes> {
    let bytes = crate::budget::paused(read_body(req, state, BODY_READ_TIMEOUT, max_bytes)).await?;
    if bytes.len() > max_bytes {
        return Err(too_large(max_bytes));
    }
    Ok(bytes)
}

/// Reads the whole body within `limit`, or answers 408 `REQUEST_TIMEOUT`; `max_bytes` is the
/// route's body limit, named in a 413.
async fn read_body<S: Send + Sync>(
    req: Request,
    state: &S,
    limit: Duration,
    max_bytes: usize,
) -> ApiResult<Bytes> {
    match tokio::time::timeout(limit, Bytes::from_request(req, state)).await {
        Ok(read) => read.map_err(|rejection| body_read_error(&rejection, max_bytes)),
        Err(_) => Err(ApiError::client(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            "The request body did not arrive in time",
        )),
    }
}

fn body_read_error(rejection: &BytesRejection, max_bytes: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(max_bytes)
    } else {
        ApiError::bad_request("INVALID_BODY", "The request body could not be read")
    }
}

fn too_large(max_bytes: usize) -> ApiError {
    ApiError::client(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("The request body is larger than {} KiB", max_bytes / 1024),
    )
}

/// Deserializes a JSON document, telling malformed JSON (400) from the wrong shape (422).
///
/// Bodies must be JSON objects: serde would also fill a struct from an array of its field values.
pub fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let starts_with_brace = bytes
        .iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|byte| *byte == b'{');
    if !starts_with_brace {
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
            .map_err(|err| malformed_json(&err))?;
        return Err(ApiError::Validation(vec![FieldError::new(
            [Loc::from("body")],
            "Input should be a JSON object",
            "dict_type",
        )]));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().clone();
        let inner = err.into_inner();
        let message = message_without_position(&inner);
        match inner.classify() {
            serde_json::error::Category::Data => {
                ApiError::Validation(vec![shape_error("body", &path, &message)])
            }
            // serde_json reports a number beyond f64 (`1e309`) as a syntax error, but the JSON
            // is well-formed: the value is out of range.
            _ if classify(&message) == SerdeErrorKind::NumberOutOfRange => {
                ApiError::Validation(vec![FieldError::new(
                    loc("body", &path),
                    "Number is out of range",
                    "value_error",
                )])
            }
            _ => malformed_json(&inner),
        }
    })?;
    de.end().map_err(|err| malformed_json(&err))?;
    Ok(value)
}

fn malformed_json(err: &serde_json::Error) -> ApiError {
    ApiError::bad_request(
        "INVALID_JSON",
        format!(
            "Malformed JSON: {} at line {} column {}",
            message_without_position(err),
            err.line(),
            err.column()
        ),
    )
}

/// serde_json appends " at line L column C" to its messages; the location is reported apart.
fn message_without_position(err: &serde_json::Error) -> String {
    let message = err.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message,
    }
}

/// A query string of type `T`, deserialized and validated; errors are 422 at `["query", field]`.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let value: T = from_urlencoded(query.as_bytes(), "query")?;
        value.validate()?;
        Ok(Self(value))
    }
}

/// A form body (`application/x-www-form-urlencoded`, as an OAuth2 token request is sent) of
/// type `T`, deserialized and validated, answered like [`JsonBody`]: 415 for another content
/// type, 413, 408, and 422 at `["body", field]`.
#[derive(Debug)]
pub struct FormBody<T>(pub T);

impl<T, S> FromRequest<S> for FormBody<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared = has_content_type(req.headers(), "application", "x-www-form-urlencoded");
        let bytes = read_declared_body(
            req,
            state,
            declared,
            "Expected a form body with Content-Type: application/x-www-form-urlencoded",
        )
        .await?;
        let value: T = from_urlencoded(&bytes, "body")?;
        value.validate()?;
        Ok(Self(value))
    }
}

/// Deserializes URL-encoded pairs (a query string or a form body); a wrong shape is 422 at
/// `[root, field]`.
fn from_urlencoded<T: DeserializeOwned>(bytes: &[u8], root: &str) -> ApiResult<T> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().clone();
        ApiError::Validation(vec![shape_error(
            root,
            &path,
            &err.into_inner().to_string(),
        )])
    })
}

/// What a serde error says went wrong, as far as a response needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SerdeErrorKind<'a> {
    /// A required field is absent; its name.
    MissingField(&'a str),
    /// A value of the wrong type, such as a string for a number.
    InvalidType,
    /// A string that is none of an enum's values.
    UnknownVariant,
    /// A number beyond what its type (or an f64) can hold.
    NumberOutOfRange,
    /// Anything else: an invalid value, or a deserializer's own message.
    Other,
}

/// Classifies a serde error by its message (without serde_json's " at line L column C").
///
/// serde's errors carry no kind a program can match, only text, so this is the one place that
/// reads it; the tests feed it real serde_json errors, so a serde upgrade that rewords a message
/// fails them instead of silently changing responses.
fn classify(message: &str) -> SerdeErrorKind<'_> {
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        SerdeErrorKind::MissingField(field)
    } else if message.starts_with("invalid type") {
        SerdeErrorKind::InvalidType
    } else if message.starts_with("unknown variant") {
        SerdeErrorKind::UnknownVariant
    } else if message.starts_with("number out of range") {
        SerdeErrorKind::NumberOutOfRange
    } else {
        SerdeErrorKind::Other
    }
}

/// Turns a serde "wrong shape" error into a FastAPI-style field error.
fn shape_error(root: &str, path: &serde_path_to_error::Path, message: &str) -> FieldError {
    let mut loc = loc(root, path);
    let kind = match classify(message) {
        SerdeErrorKind::MissingField(field) => {
            loc.push(Loc::from(field));
            return FieldError::new(loc, "Field required", "missing");
        }
        SerdeErrorKind::InvalidType => "type_error",
        SerdeErrorKind::UnknownVariant => "enum",
        SerdeErrorKind::NumberOutOfRange | SerdeErrorKind::Other => "value_error",
    };
    FieldError::new(loc, message, kind)
}

fn loc(root: &str, path: &serde_path_to_error::Path) -> Vec<Loc> {
    use serde_path_to_error::Segment;
    std::iter::once(Loc::from(root))
        .chain(path.iter().filter_map(|segment| match segment {
            Segment::Seq { index } => Some(Loc::Index(*index)),
            Segment::Map { key } => Some(Loc::Key(key.clone())),
            Segment::Enum { variant } => Some(Loc::Key(variant.clone())),
            Segment::Unknown => None,
        }))
        .collect()
}

/// Parses an id taken from a path, answering 400 `INVALID_ID` "Invalid {what} id" when malformed.
pub fn parse_id(raw: &str, what: &str) -> ApiResult<ObjectId> {
    if raw.len() != 24 {
        return Err(ApiError::invalid_id(what));
    }
    ObjectId::parse_str(raw).map_err(|_| ApiError::invalid_id(what))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Line {
        product_id: String,
        quantity: i64,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Order {
        items: Vec<Line>,
        price: Option<f64>,
    }

    fn validation(err: ApiError) -> Vec<FieldError> {
        match err {
            ApiError::Validation(errors) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_nested_field_is_located_by_its_path() {
        let err = from_json::<Order>(br#"{"items": [{"product_id": "x"}]}"#).unwrap_err();
        let errors = validation(err);
        assert_eq!(
            errors[0].loc,
            vec![
                Loc::from("body"),
                Loc::from("items"),
                Loc::Index(0),
                Loc::from("quantity")
            ]
        );
        assert_eq!(errors[0].kind, "missing");
    }

    #[test]
    fn a_wrong_type_is_a_type_error_at_its_field() {
        let err = from_json::<Order>(br#"{"items": [], "price": "12"}"#).unwrap_err();
        let errors = validation(err);
        assert_eq!(errors[0].loc, vec![Loc::from("body"), Loc::from("price")]);
        assert_eq!(errors[0].kind, "type_error");
    }

    #[test]
    fn a_number_beyond_f64_is_out_of_range_not_malformed() {
        let err = from_json::<Order>(br#"{"items": [], "price": 1e309}"#).unwrap_err();
        let errors = validation(err);
        assert_eq!(errors[0].loc, vec![Loc::from("body"), Loc::from("price")]);
    }

    #[derive(Debug, Deserialize)]
    struct Count {
        #[serde(default, deserialize_with = "whole_number")]
        count: i64,
    }

    #[test]
    fn whole_valued_numbers_are_integers() {
        for (body, expected) in [
            (r#"{"count": 3}"#, 3),
            (r#"{"count": -3}"#, -3),
            (r#"{"count": 1.0}"#, 1),
            (r#"{"count": -2.0}"#, -2),
            (r#"{"count": 1e3}"#, 1000),
            (r#"{"count": -0.0}"#, 0),
            (r#"{"count": 9223372036854775807}"#, i64::MAX),
            (r#"{"count": -9223372036854775808}"#, i64::MIN),
            (r#"{}"#, 0),
        ] {
            let count = from_json::<Count>(body.as_bytes()).unwrap().count;
            assert_eq!(count, expected, "{body}");
        }
    }

    #[test]
    fn fractional_out_of_range_and_non_numbers_are_422_at_the_field() {
        for (body, kind) in [
            (r#"{"count": 1.5}"#, "value_error"),
            (r#"{"count": 0.0001}"#, "value_error"),
            (r#"{"count": 9223372036854775808}"#, "value_error"),
            (r#"{"count": 1e19}"#, "value_error"),
            (r#"{"count": -1e300}"#, "value_error"),
            (r#"{"count": 1e309}"#, "value_error"),
            (r#"{"count": "1"}"#, "type_error"),
            (r#"{"count": true}"#, "type_error"),
            (r#"{"count": null}"#, "type_error"),
        ] {
            let errors = validation(from_json::<Count>(body.as_bytes()).unwrap_err());
            assert_eq!(
                errors[0].loc,
                vec![Loc::from("body"), Loc::from("count")],
                "{body}"
            );
            assert_eq!(errors[0].kind, kind, "{body}");
        }
    }

    #[test]
    fn a_body_that_is_not_an_object_is_a_validation_error() {
        for body in [&br#"["x", 1]"#[..], b"42", b" \"text\"", b"null"] {
            let errors = validation(from_json::<Line>(body).unwrap_err());
            assert_eq!(errors[0].loc, vec![Loc::from("body")]);
            assert_eq!(errors[0].kind, "dict_type");
        }
    }

    #[test]
    fn malformed_json_and_trailing_garbage_are_bad_requests() {
        for body in [
            &b"{"[..],
            b"{\"items\": [],}",
            b"{\"items\": []} x",
            b"",
            b"NaN",
        ] {
            let err = from_json::<Order>(body).unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{body:?}");
            assert_eq!(err.code(), "INVALID_JSON");
        }
    }

    /// The message of the error serde_json gives for `json` read as `T`, as the extractors see it.
    fn serde_message<T: DeserializeOwned + std::fmt::Debug>(json: &str) -> String {
        message_without_position(&serde_json::from_str::<T>(json).unwrap_err())
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    enum Colour {
        Red,
    }

    #[test]
    fn a_missing_field_is_classified_with_its_name() {
        let message = serde_message::<Line>(r#"{"product_id": "x"}"#);
        assert_eq!(classify(&message), SerdeErrorKind::MissingField("quantity"));
    }

    #[test]
    fn a_value_of_the_wrong_type_is_classified_as_invalid_type() {
        let message = serde_message::<Line>(r#"{"product_id": 1, "quantity": 1}"#);
        assert_eq!(classify(&message), SerdeErrorKind::InvalidType);
    }

    #[test]
    fn a_string_outside_an_enum_is_classified_as_unknown_variant() {
        let message = serde_message::<Colour>(r#""blue""#);
        assert_eq!(classify(&message), SerdeErrorKind::UnknownVariant);
    }

    #[test]
    fn a_number_beyond_f64_is_classified_as_out_of_range() {
        let message = serde_message::<f64>("1e309");
        assert_eq!(classify(&message), SerdeErrorKind::NumberOutOfRange);
    }

    #[test]
    fn an_invalid_value_is_classified_as_other() {
        let message = serde_message::<u8>("300");
        assert_eq!(classify(&message), SerdeErrorKind::Other);
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Filter {
        colour: Colour,
    }

    #[test]
    fn query_string_errors_are_classified_alike() {
        let query = |text: &str| {
            serde_urlencoded::from_str::<Filter>(text)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(classify(&query("")), SerdeErrorKind::MissingField("colour"));
        assert_eq!(
            classify(&query("colour=blue")),
            SerdeErrorKind::UnknownVariant
        );
    }

    #[test]
    fn content_types_with_parameters_and_suffixes_are_json() {
        for (value, expected) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/problem+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
            ("json", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(has_json_content_type(&headers), expected, "{value}");
        }
        assert!(!has_json_content_type(&HeaderMap::new()));
    }

    #[test]
    fn ids_must_be_24_hex_characters() {
        assert!(parse_id("65f1a2b3c4d5e6f708192a3b", "order").is_ok());
        for raw in [
            "",
            "abc",
            "65f1a2b3c4d5e6f708192a3g",
            "65f1a2b3c4d5e6f708192a3b00",
        ] {
            let err = parse_id(raw, "order").unwrap_err();
            assert_eq!(err.code(), "INVALID_ID");
        }
    }
}

#[cfg(test)]
mod body_timeout_tests {
    use axum::{body::Body, response::IntoResponse};
    use futures_util::stream::{self, StreamExt};
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Anything {}

    impl Validate for Anything {}

    /// A body that sends one chunk and then nothing, forever.
    fn stalled_body() -> Body {
        let first = stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(b"{\"a\":")) });
        Body::from_stream(first.chain(stream::pending()))
    }

    // Paused time advances on its own while everything waits, so the 5 s pass instantly.
    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_is_answered_408_after_the_body_read_timeout() {
        let request = Request::builder()
            .method("POST")
            .header(header::CONTENT_TYPE, "application/json")
            .body(stalled_body())
            .unwrap();
        let started = tokio::time::Instant::now();

        let err = JsonBody::<Anything>::from_request(request, &())
            .await
            .unwrap_err();

        assert_eq!(started.elapsed(), BODY_READ_TIMEOUT);
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
            serde_json::json!({
                "detail": "The request body did not arrive in time",
                "error_code": "REQUEST_TIMEOUT",
            })
        );
    }

    // Receiving the body is the client's time: the database budget (1.5 s, as the platform's
    // deadline layer gives it) must not run out for a body that is still arriving.
    #[tokio::test(start_paused = true)]
    async fn behind_a_database_budget_a_stalled_body_is_still_answered_408() {
        use axum::{
            Router,
            middleware::{self, Next},
            response::{IntoResponse, Response},
            routing::post,
        };
        use tower::ServiceExt;

        async fn under_budget(request: Request<Body>, next: Next) -> Response {
            let budget = crate::budget::Budget::start(Duration::from_millis(1500));
            tokio::select! {
                response = budget.scope(next.run(request)) => response,
                () = budget.expired() => StatusCode::SERVICE_UNAVAILABLE.into_response(),
            }
        }

        let app = Router::new()
            .route("/", post(|_: JsonBody<Anything>| async { "read" }))
            .layer(middleware::from_fn(under_budget));
        let request = Request::builder()
            .method("POST")
            .uri("/")
            .header(header::CONTENT_TYPE, "application/json")
            .body(stalled_body())
            .unwrap();
        let started = tokio::time::Instant::now();

        let response = app.oneshot(request).await.unwrap();

        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(started.elapsed(), BODY_READ_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_raw_body_is_read_within_its_own_limit_and_timeout() {
        // No route layer here: the limit given is enforced all the same.
        let read = |body: Body| async move {
            let request = Request::builder().method("PUT").body(body).unwrap();
            read_raw_body(request, &(), 100).await
        };

        assert_eq!(read(Body::from(vec![1; 100])).await.unwrap().len(), 100);
        let too_large = read(Body::from(vec![1; 101])).await.unwrap_err();
        assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let started = tokio::time::Instant::now();
        let stalled = read(stalled_body()).await.unwrap_err();
        assert_eq!(stalled.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(started.elapsed(), BODY_READ_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_arrives_is_read() {
        let request = Request::builder()
            .method("POST")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap();

        assert!(
            JsonBody::<Anything>::from_request(request, &())
                .await
                .is_ok()
        );
    }
}
