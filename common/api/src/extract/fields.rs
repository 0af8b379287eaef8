//! serde helpers for fields: an empty query value as absent, and whole-valued numbers as integers.

use serde::de::DeserializeOwned;

/// For `#[serde(default, deserialize_with = "common_api::extract::empty_as_none")]` on an optional
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
