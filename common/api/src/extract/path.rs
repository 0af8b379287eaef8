//! Ids taken from a path.

use axum::{extract::FromRequestParts, http::request::Parts};

use mongodb::bson::oid::ObjectId;

use crate::error::{ApiError, ApiResult};

use std::marker::PhantomData;

use axum::extract::Path;
use utoipa::{
    IntoParams,
    openapi::{
        Required,
        path::{Parameter, ParameterBuilder, ParameterIn},
        schema::{ObjectBuilder, Type},
    },
};

/// Parses an id taken from a path, answering 400 `INVALID_ID` "Invalid {what} id" when malformed.
pub fn parse_id(raw: &str, what: &str) -> ApiResult<ObjectId> {
    if raw.len() != 24 {
        return Err(ApiError::invalid_id(what));
    }
    ObjectId::parse_str(raw).map_err(|_| ApiError::invalid_id(what))
}

/// What an id in a path names: its name in the 400 `INVALID_ID` message ("Invalid product id")
/// and in the OpenAPI parameter's description.
pub trait IdOf {
    /// The thing the id names, in lowercase: `product`, `order`, `user`.
    const NAME: &'static str;
}

/// The pattern of an id in a path, as the OpenAPI parameter states it.
pub const ID_PATTERN: &str = "^[0-9a-fA-F]{24}$";

/// The `{id}` of a route's path, parsed as an ObjectId: 400 `INVALID_ID` "Invalid {name} id"
/// when it is not 24 hex characters. In `#[utoipa::path(params(PathId<Product>))]` it documents
/// itself, with [`ID_PATTERN`].
pub struct PathId<T>(pub ObjectId, PhantomData<T>);

impl<T> PathId<T> {
    /// The id.
    pub fn get(&self) -> ObjectId {
        self.0
    }
}

impl<T> std::fmt::Debug for PathId<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PathId").field(&self.0).finish()
    }
}

impl<T: IdOf, S: Send + Sync> FromRequestParts<S> for PathId<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A segment that is not even UTF-8 once decoded is as malformed an id as any.
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::invalid_id(T::NAME))?;
        Ok(Self(parse_id(&raw, T::NAME)?, PhantomData))
    }
}

impl<T: IdOf> IntoParams for PathId<T> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(ID_PATTERN));
        vec![
            ParameterBuilder::new()
                .name("id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(format!("The {}'s id (24 hex characters)", T::NAME)))
                .schema(Some(schema))
                .build(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use axum::{Router, body::Body, http::Request, routing::get};
    use tower::ServiceExt;

    use super::*;

    struct Thing;

    impl IdOf for Thing {
        const NAME: &'static str = "thing";
    }

    async fn get_path(path: &str) -> (u16, String) {
        let app = Router::new().route(
            "/things/{id}",
            get(|id: PathId<Thing>| async move { id.get().to_hex() }),
        );
        let response = app
            .oneshot(Request::builder().uri(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_well_formed_id_is_parsed_and_a_malformed_one_is_400_naming_what_it_names() {
        let id = ObjectId::new().to_hex();
        assert_eq!(get_path(&format!("/things/{id}")).await, (200, id));
        for malformed in [
            "/things/123",
            "/things/zzzzzzzzzzzzzzzzzzzzzzzz",
            "/things/%FF",
        ] {
            let (status, body) = get_path(malformed).await;
            assert_eq!(status, 400, "{malformed}");
            assert!(
                body.contains("INVALID_ID") && body.contains("Invalid thing id"),
                "{body}"
            );
        }
    }

    #[test]
    fn the_openapi_parameter_carries_the_pattern() {
        let params = PathId::<Thing>::into_params(|| None);
        let param = serde_json::to_value(&params[0]).unwrap();
        assert_eq!(param["name"], "id");
        assert_eq!(param["in"], "path");
        assert_eq!(param["required"], true);
        assert_eq!(param["schema"]["pattern"], ID_PATTERN);
        assert_eq!(param["description"], "The thing's id (24 hex characters)");
    }
}
