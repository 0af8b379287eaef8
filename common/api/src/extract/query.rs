//! Query strings, deserialized and validated.

use axum::{extract::FromRequestParts, http::request::Parts};

use serde::de::DeserializeOwned;

use crate::error::ApiError;

use crate::validate::Validate;

use super::decode::from_urlencoded;

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
