//! Decoding JSON and URL-encoded input into typed structs, with serde's errors turned into the
//! contract's 400 (malformed JSON) and 422 (FastAPI's field list).

use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult, FieldError, Loc};

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

/// Deserializes URL-encoded pairs (a query string or a form body); a wrong shape is 422 at
/// `[root, field]`.
pub(super) fn from_urlencoded<T: DeserializeOwned>(bytes: &[u8], root: &str) -> ApiResult<T> {
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

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use crate::extract::{parse_id, whole_number};
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
