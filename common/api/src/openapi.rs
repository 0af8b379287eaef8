//! The error responses many routes share, declared once for OpenAPI as utoipa
//! [`IntoResponses`](utoipa::IntoResponses) sets, so that every route documents them alike and
//! none can drift from what the extractors and [`ApiError`](crate::ApiError) answer.
//!
//! A route lists the sets that apply after its own responses:
//! `responses((status = 200, …), (status = 422, …), InvalidJson, JsonBodyErrors, AuthErrors,
//! DbUnavailable)`. Each status may appear only once per operation and utoipa silently keeps the
//! last one listed, so the sets never share a status, except the 400 sets, of which a route lists
//! at most one: [`InvalidJson`], [`InvalidId`] or [`InvalidIdOrJson`], or a 400 of its own where
//! it answers 400 for more reasons (it still lists [`JsonBodyErrors`] for its 413 and 415).
//! A 422 stays on each route, since its description lists that route's rules.
//!
//! The enums are never built: they only describe responses.

use utoipa::{
    IntoResponses, OpenApi,
    openapi::{
        RefOr, Schema,
        schema::{AnyOfBuilder, ObjectBuilder, Type},
    },
};

use crate::error::{ErrorBody, ValidationErrorBody};

/// The name of the security scheme that protected routes declare with
/// `security(("bearer" = []))`; the platform's shared router adds it to every service's document.
pub const BEARER_SCHEME: &str = "bearer";

/// The name of the OAuth2 password-flow scheme the platform's shared router offers beside [`BEARER_SCHEME`] on
/// every protected route, for Swagger UI's "Authorize" to sign in with an email and a password.
pub const OAUTH2_SCHEME: &str = "oauth2";

/// What [`JsonBody`](crate::extract::JsonBody) answers besides 400 `INVALID_JSON` and 422: for
/// every route that takes a JSON body, together with one 400 set (or the route's own 400).
#[derive(IntoResponses)]
pub enum JsonBodyErrors {
    /// The body is over the 64 KiB limit.
    #[response(status = 413, description = "Body over 64 KiB (`PAYLOAD_TOO_LARGE`)")]
    PayloadTooLarge(ErrorBody),
    /// The body is not declared as JSON.
    #[response(
        status = 415,
        description = "Not `application/json` (`UNSUPPORTED_MEDIA_TYPE`)"
    )]
    UnsupportedMediaType(ErrorBody),
}

/// What [`FormBody`](crate::extract::FormBody) answers besides 422: for every route that takes a
/// form body.
#[derive(IntoResponses)]
pub enum FormBodyErrors {
    /// The body could not be read.
    #[response(
        status = 400,
        description = "A body that could not be read (`INVALID_BODY`)"
    )]
    InvalidBody(ErrorBody),
    /// The body is over the 64 KiB limit.
    #[response(status = 413, description = "Body over 64 KiB (`PAYLOAD_TOO_LARGE`)")]
    PayloadTooLarge(ErrorBody),
    /// The body is not declared as a form.
    #[response(
        status = 415,
        description = "Not `application/x-www-form-urlencoded` (`UNSUPPORTED_MEDIA_TYPE`)"
    )]
    UnsupportedMediaType(ErrorBody),
}

/// The 400 of a route whose only 400 is a malformed JSON body.
#[derive(IntoResponses)]
pub enum InvalidJson {
    /// The body is not well-formed JSON, or could not be read.
    #[response(
        status = 400,
        description = "Malformed JSON (`INVALID_JSON`) or a body that could not be read (`INVALID_BODY`)"
    )]
    InvalidJson(ErrorBody),
}

/// The 400 of a route whose only 400 is a malformed id in its path
/// ([`parse_id`](crate::extract::parse_id)).
#[derive(IntoResponses)]
pub enum InvalidId {
    /// The id in the path is not 24 hex characters.
    #[response(status = 400, description = "Malformed id (`INVALID_ID`)")]
    InvalidId(ErrorBody),
}

/// The 400 of a route with both an id in its path and a JSON body.
#[derive(IntoResponses)]
pub enum InvalidIdOrJson {
    /// The id in the path or the JSON body is malformed.
    #[response(
        status = 400,
        description = "Malformed id (`INVALID_ID`) or JSON (`INVALID_JSON`), or a body that could not be read (`INVALID_BODY`)"
    )]
    InvalidIdOrJson(ErrorBody),
}

/// For every route that needs a bearer token ([`AuthUser`](crate::auth::AuthUser) or
/// [`RequireRole`](crate::auth::RequireRole)).
#[derive(IntoResponses)]
pub enum AuthErrors {
    /// No valid access token.
    #[response(
        status = 401,
        description = "Missing, invalid or expired access token (`UNAUTHORIZED`)"
    )]
    Unauthorized(ErrorBody),
}

/// For routes behind [`RequireRole<AdminOnly>`](crate::auth::AdminOnly).
#[derive(IntoResponses)]
pub enum AdminOnlyErrors {
    /// The caller is signed in but not an admin.
    #[response(status = 403, description = "Not an admin (`FORBIDDEN`)")]
    Forbidden(ErrorBody),
}

/// For routes behind [`RequireRole<SellerOrAdmin>`](crate::auth::SellerOrAdmin).
#[derive(IntoResponses)]
pub enum SellerOrAdminErrors {
    /// The caller is signed in as a buyer.
    #[response(status = 403, description = "Not a seller or admin (`FORBIDDEN`)")]
    Forbidden(ErrorBody),
}

/// For every route that touches the database.
#[derive(IntoResponses)]
pub enum DbUnavailable {
    /// MongoDB cannot be reached or did not answer in time.
    #[response(status = 503, description = "Database unavailable (`DB_UNAVAILABLE`)")]
    DbUnavailable(ErrorBody),
}

/// For every route that takes a request body: [`JsonBody`](crate::extract::JsonBody) stops waiting
/// for it after [`BODY_READ_TIMEOUT`](crate::extract::BODY_READ_TIMEOUT).
#[derive(IntoResponses)]
pub enum BodyTimeout {
    /// The body did not arrive in time.
    #[response(
        status = 408,
        description = "The body did not arrive within 5 s (`REQUEST_TIMEOUT`)"
    )]
    RequestTimeout(ErrorBody),
}

/// The schema of an optional query parameter read with
/// [`empty_as_none`](crate::extract::empty_as_none) or
/// [`empty_as_none_parsed`](crate::extract::empty_as_none_parsed): a value of `schema`, or the
/// empty string (`?sort=`, as a form sends an unset filter), which means no filter. For a field's
/// `#[param(schema_with = …)]`, through a function of no arguments that passes its `schema`.
pub fn or_empty(schema: impl Into<RefOr<Schema>>) -> RefOr<Schema> {
    let empty = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([""]));
    AnyOfBuilder::new().item(schema).item(empty).into()
}

/// The error bodies as components of every service's document. The sets above only reference
/// them (utoipa does not collect schemas through `IntoResponses`), so they are added here.
#[derive(OpenApi)]
#[openapi(components(schemas(ErrorBody, ValidationErrorBody)))]
pub struct ErrorSchemas;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use utoipa::IntoResponses;

    use super::*;

    fn statuses<T: IntoResponses>() -> BTreeSet<String> {
        T::responses().into_keys().collect()
    }

    #[test]
    fn the_sets_answer_the_statuses_they_are_named_for() {
        let json = ["413", "415"].map(String::from).into();
        assert_eq!(statuses::<JsonBodyErrors>(), json);
        let form = ["400", "413", "415"].map(String::from).into();
        assert_eq!(statuses::<FormBodyErrors>(), form);
        for bad_request in [
            statuses::<InvalidJson>(),
            statuses::<InvalidId>(),
            statuses::<InvalidIdOrJson>(),
        ] {
            assert_eq!(bad_request, BTreeSet::from(["400".to_owned()]));
        }
        assert_eq!(statuses::<AuthErrors>(), BTreeSet::from(["401".to_owned()]));
        assert_eq!(
            statuses::<AdminOnlyErrors>(),
            BTreeSet::from(["403".to_owned()])
        );
        assert_eq!(
            statuses::<SellerOrAdminErrors>(),
            BTreeSet::from(["403".to_owned()])
        );
        assert_eq!(
            statuses::<DbUnavailable>(),
            BTreeSet::from(["503".to_owned()])
        );
        assert_eq!(
            statuses::<BodyTimeout>(),
            BTreeSet::from(["408".to_owned()])
        );
    }

    #[test]
    fn the_error_schemas_include_what_they_refer_to() {
        let doc = ErrorSchemas::openapi();
        let schemas = doc.components.map(|c| c.schemas).unwrap_or_default();
        for name in ["ErrorBody", "ValidationErrorBody", "FieldError"] {
            assert!(schemas.contains_key(name), "{name} in {:?}", schemas.keys());
        }
    }

    #[test]
    fn or_empty_also_allows_the_empty_string() {
        let schema = or_empty(ObjectBuilder::new().schema_type(Type::Boolean));

        assert_eq!(
            serde_json::to_value(schema).unwrap(),
            serde_json::json!({"anyOf": [{"type": "boolean"}, {"type": "string", "enum": [""]}]})
        );
    }
}
