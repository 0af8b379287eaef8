//! `PUT`, `GET` and `DELETE /products/{id}/image`: a product's image, stored in GridFS (see
//! [`crate::products::images`] for how a replacement leaves no file behind). What is HTTP's stays
//! here: the declared `Content-Type`, reading the raw body, the validators (`ETag`,
//! `If-None-Match`, `Cache-Control`) and streaming the bytes.

use axum::{
    Json,
    body::{Body, Bytes},
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use common_api::{
    ApiResult,
    auth::AuthUser,
    error::{ErrorBody, ValidationErrorBody},
    extract::{PathId, QueryParams, read_raw_body},
    openapi::{AuthErrors, DbUnavailable, InvalidId},
    validate::Validate,
};
use common_catalog::ImageRef;
use futures_util::AsyncReadExt;
use mongodb::gridfs::GridFsDownloadStream;
use serde::Deserialize;
use utoipa::openapi::{
    RefOr, Schema,
    schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{NotProductOwner, Product, errors::unsupported};
use crate::{
    AppState,
    models::ProductResponse,
    products::images::{self, ImageFormat, ImageRead, MAX_IMAGE_BYTES},
};

/// `Cache-Control` of a URL that names the current version (`?v=`): its bytes never change.
const CACHE_VERSIONED: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of any other image URL: cacheable, but revalidated (a cheap 304) every time.
const CACHE_REVALIDATE: &str = "public, no-cache";

/// The image routes; the upload's body limit is raised to [`MAX_IMAGE_BYTES`] for it alone.
pub(super) fn router() -> OpenApiRouter<AppState> {
    let (schemas, paths, upload) = routes!(upload_image);
    OpenApiRouter::new()
        .routes((
            schemas,
            paths,
            upload.layer(DefaultBodyLimit::max(MAX_IMAGE_BYTES)),
        ))
        .routes(routes!(get_image, delete_image))
}

/// The raw bytes of an image, as the OpenAPI document shows them.
pub struct ImageBytes;

// The traits are named in full: in scope, they would make utoipa's generated paths redundant.
impl utoipa::PartialSchema for ImageBytes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .description(Some("The image file's bytes"))
            .into()
    }
}

impl utoipa::ToSchema for ImageBytes {}

/// The query of `GET /products/{id}/image`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImageVersion {
    /// The image version from `image_url` (16 hex characters). Any value serves the current
    /// image; the current version makes the answer cacheable for a year.
    pub v: Option<String>,
}

impl Validate for ImageVersion {}

/// Sets or replaces the product's image (the owning seller or an admin): the raw bytes of a PNG,
/// JPEG or WebP file of at most 2 MiB, sent with its `Content-Type`.
#[utoipa::path(put, path = "/products/{id}/image", tag = "products",
    security(("bearer" = [])),
    params(PathId<Product>),
    request_body(
        description = "The image file's bytes, 1 byte to 2 MiB; they must be of the declared type (checked by their first bytes). Parameters of the `Content-Type` are ignored.",
        content(
            (ImageBytes = "image/png"),
            (ImageBytes = "image/jpeg"),
            (ImageBytes = "image/webp"),
        ),
    ),
    responses(
        (status = 200, description = "The product, with its new `image_url`", body = ProductResponse),
        (status = 400, description = "Malformed id (`INVALID_ID`) or a body that could not be read (`INVALID_BODY`)", body = ErrorBody),
        (status = 404, description = "No such product (`PRODUCT_NOT_FOUND`)", body = ErrorBody),
        (status = 413, description = "Body over 2 MiB (`PAYLOAD_TOO_LARGE`)", body = ErrorBody),
        (status = 415, description = "`Content-Type` not `image/png`, `image/jpeg` or `image/webp`, or bytes that are not of that type (`UNSUPPORTED_MEDIA_TYPE`)", body = ErrorBody),
        (status = 422, description = "An empty body", body = ValidationErrorBody),
        (status = 503, description = "The database is unavailable (`DB_UNAVAILABLE`), or as many uploads as the service receives at once are under way (`OVERLOADED`, with `Retry-After: 1`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the client may try again"))),
        AuthErrors, NotProductOwner,
    ))]
async fn upload_image(
    State(state): State<AppState>,
    caller: AuthUser,
    id: PathId<Product>,
    request: Request,
) -> ApiResult<Json<ProductResponse>> {
    let format = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(ImageFormat::from_content_type)
        .ok_or_else(|| unsupported("Expected Content-Type image/png, image/jpeg or image/webp"))?;
    let images = state.products.images();
    // Refuse before receiving up to 2 MiB for nothing; the swap checks ownership again.
    images.check_owner(id.get(), &caller).await?;
    let slot = images.upload_slot()?;
    let bytes = read_raw_body(request, &state, MAX_IMAGE_BYTES).await?;
    let product = images.set(slot, id.get(), &caller, format, &bytes).await?;
    Ok(Json(ProductResponse::of(product, state.config.currency)?))
}

/// The product's image (anyone), with a strong `ETag` (the SHA-256 of the bytes); an
/// `If-None-Match` naming it is answered 304 without the bytes.
#[utoipa::path(get, path = "/products/{id}/image", tag = "products",
    params(
        PathId<Product>,
        ImageVersion,
        ("If-None-Match" = Option<String>, Header, description = "ETags the client holds; a match is answered 304"),
    ),
    responses(
        (status = 200, description = "The image's bytes",
            content(
                (ImageBytes = "image/png"),
                (ImageBytes = "image/jpeg"),
                (ImageBytes = "image/webp"),
            ),
            headers(
                ("ETag" = String, description = "Strong validator: the SHA-256 of the bytes, quoted"),
                ("Cache-Control" = String, description = "`public, max-age=31536000, immutable` when `v` names the current image, otherwise `public, no-cache` (revalidate each time)"),
                ("Content-Length" = u64, description = "The image's size in bytes"),
            )),
        (status = 304, description = "`If-None-Match` names the current image: no body",
            headers(
                ("ETag" = String, description = "The current image's ETag"),
                ("Cache-Control" = String, description = "As for 200"),
            )),
        (status = 404, description = "No such product (`PRODUCT_NOT_FOUND`), or it has no image (`IMAGE_NOT_FOUND`)", body = ErrorBody),
        InvalidId, DbUnavailable,
    ))]
async fn get_image(
    State(state): State<AppState>,
    id: PathId<Product>,
    QueryParams(query): QueryParams<ImageVersion>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let held = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok());
    let read = state
        .products
        .images()
        .read(id.get(), |image| {
            held.is_some_and(|held| none_match(held, &images::etag(image)))
        })
        .await?;
    let version = query.v.as_deref();
    Ok(match read {
        ImageRead::Held(image) => {
            Validators::of(&image, version).apply(StatusCode::NOT_MODIFIED.into_response())
        }
        ImageRead::Bytes(image, stream) => {
            let mut response = Body::from_stream(chunks(*stream)).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(&image.content_type)
                    .unwrap_or(HeaderValue::from_static("application/octet-stream")),
            );
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(image.length));
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            Validators::of(&image, version).apply(response)
        }
    })
}

/// Removes the product's image (the owning seller or an admin).
#[utoipa::path(delete, path = "/products/{id}/image", tag = "products",
    security(("bearer" = [])),
    params(PathId<Product>),
    responses(
        (status = 204, description = "The image was removed, or the product had none (removing is idempotent)"),
        (status = 404, description = "No such product (`PRODUCT_NOT_FOUND`)", body = ErrorBody),
        InvalidId, AuthErrors, NotProductOwner, DbUnavailable,
    ))]
async fn delete_image(
    State(state): State<AppState>,
    caller: AuthUser,
    id: PathId<Product>,
) -> ApiResult<StatusCode> {
    state.products.images().remove(id.get(), &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `ETag` and `Cache-Control` of an image answer (200 or 304).
struct Validators {
    etag: String,
    cache_control: &'static str,
}

impl Validators {
    fn of(image: &ImageRef, requested_version: Option<&str>) -> Self {
        let current = requested_version == Some(images::version(image));
        Self {
            etag: images::etag(image),
            cache_control: if current {
                CACHE_VERSIONED
            } else {
                CACHE_REVALIDATE
            },
        }
    }

    fn apply(self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        if let Ok(etag) = HeaderValue::from_str(&self.etag) {
            headers.insert(header::ETAG, etag);
        }
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(self.cache_control),
        );
        response
    }
}

/// Whether an `If-None-Match` header names `etag` (weak comparison, as RFC 9110 asks for it).
fn none_match(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// The file's bytes, read from GridFS as the client takes them.
fn chunks(
    stream: GridFsDownloadStream,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> {
    futures_util::stream::try_unfold(stream, |mut stream| async move {
        let mut buffer = vec![0; 64 * 1024];
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            return Ok(None);
        }
        buffer.truncate(read);
        Ok(Some((Bytes::from(buffer), stream)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists_and_any() {
        let tag = "\"abc\"";
        assert!(none_match("\"abc\"", tag));
        assert!(none_match("W/\"abc\"", tag));
        assert!(none_match("\"x\", \"abc\"", tag));
        assert!(none_match("*", tag));
        assert!(!none_match("\"abcd\"", tag));
        assert!(!none_match("abc", tag));
    }
}
