//! `PUT`, `GET` and `DELETE /products/{id}/image`: a product's image, stored in GridFS (see
//! [`crate::images`] for how a replacement leaves no file behind).

use axum::{
    Json,
    body::{Body, Bytes},
    extract::{DefaultBodyLimit, Path, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use common_api::{
    ApiError, ApiResult,
    auth::AuthUser,
    error::{ErrorBody, FieldError, Loc, ValidationErrorBody},
    extract::{QueryParams, parse_id, read_raw_body},
    openapi::{AuthErrors, DbUnavailable, InvalidId},
    validate::Validate,
};
use common_catalog::{ImageRef, ProductDoc};
use futures_util::AsyncReadExt;
use mongodb::gridfs::GridFsDownloadStream;
use serde::Deserialize;
use utoipa::openapi::{
    RefOr, Schema,
    schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{NotProductOwner, explain_no_match, product_not_found};
use crate::{
    AppState,
    images::{self, ImageFormat, MAX_IMAGE_BYTES},
    models::ProductResponse,
    store::owned_by,
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

fn image_not_found() -> ApiError {
    ApiError::not_found("IMAGE_NOT_FOUND", "The product has no image")
}

fn unsupported(detail: &'static str) -> ApiError {
    ApiError::client(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
        detail,
    )
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
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The product's id (24 hex characters)")),
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
    Path(id): Path<String>,
    request: Request,
) -> ApiResult<Json<ProductResponse>> {
    let id = parse_id(&id, "product")?;
    let format = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(ImageFormat::from_content_type)
        .ok_or_else(|| unsupported("Expected Content-Type image/png, image/jpeg or image/webp"))?;
    // Refuse before receiving up to 2 MiB for nothing; the swap below checks ownership again.
    explain_no_match(&state, id, &caller).await?;
    // Held until the image is stored: it bounds how many bodies are in memory at once.
    let _slot = state.images.upload_slot().ok_or(ApiError::Overloaded {
        retry_after_secs: 1,
    })?;
    let bytes = read_raw_body(request, &state, MAX_IMAGE_BYTES).await?;
    check_image(format, &bytes)?;

    let image = state.images.upload(id, format, &bytes).await?;
    // Should this fail after the server applied it, the new file is in use: it is not deleted
    // here, and the sweep takes whichever file ends up unreferenced.
    let Some(before) = state.images.attach(owned_by(id, &caller), &image).await? else {
        state.images.discard(image.file_id).await;
        explain_no_match(&state, id, &caller).await?;
        return Err(product_not_found());
    };
    if let Some(old) = &before.image {
        state.images.discard(old.file_id).await;
    }
    tracing::info!(product_id = %id, bytes = image.length, "product image set");
    let product = ProductDoc {
        updated_at: image.uploaded_at,
        image: Some(image),
        ..before
    };
    Ok(Json(product.into()))
}

/// 422 for an empty body, 415 for bytes that are not of the declared format.
fn check_image(format: ImageFormat, bytes: &Bytes) -> ApiResult<()> {
    if bytes.is_empty() {
        return Err(ApiError::Validation(vec![FieldError::new(
            [Loc::from("body")],
            "The image is empty",
            "missing",
        )]));
    }
    if !format.matches(bytes) {
        return Err(unsupported(match format {
            ImageFormat::Png => "The body is not a PNG image",
            ImageFormat::Jpeg => "The body is not a JPEG image",
            ImageFormat::Webp => "The body is not a WebP image",
        }));
    }
    Ok(())
}

/// The product's image (anyone), with a strong `ETag` (the SHA-256 of the bytes); an
/// `If-None-Match` naming it is answered 304 without the bytes.
#[utoipa::path(get, path = "/products/{id}/image", tag = "products",
    params(
        ("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The product's id (24 hex characters)"),
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
    Path(id): Path<String>,
    QueryParams(query): QueryParams<ImageVersion>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = parse_id(&id, "product")?;
    // A replacement may delete the file between reading the reference and opening it: read the
    // reference again once, then it names the new file.
    for _ in 0..2 {
        let product = state
            .products
            .find(id)
            .await?
            .ok_or_else(product_not_found)?;
        let image = product.image.ok_or_else(image_not_found)?;
        let validators = Validators::of(&image, query.v.as_deref());
        let held = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|value| value.to_str().ok());
        if held.is_some_and(|held| images::none_match(held, &validators.etag)) {
            return Ok(validators.apply(StatusCode::NOT_MODIFIED.into_response()));
        }
        if let Some(stream) = state.images.open(image.file_id).await? {
            let mut response = Body::from_stream(chunks(stream)).into_response();
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
            return Ok(validators.apply(response));
        }
    }
    Err(image_not_found())
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

/// Removes the product's image (the owning seller or an admin).
#[utoipa::path(delete, path = "/products/{id}/image", tag = "products",
    security(("bearer" = [])),
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The product's id (24 hex characters)")),
    responses(
        (status = 204, description = "The image was removed, or the product had none (removing is idempotent)"),
        (status = 404, description = "No such product (`PRODUCT_NOT_FOUND`)", body = ErrorBody),
        InvalidId, AuthErrors, NotProductOwner, DbUnavailable,
    ))]
async fn delete_image(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "product")?;
    let Some(before) = state.images.detach(owned_by(id, &caller)).await? else {
        // Nothing matched: 404 or 403 if that is why; otherwise the product is the caller's and
        // has no image, which is what was asked for (a repeated DELETE, say).
        explain_no_match(&state, id, &caller).await?;
        return Ok(StatusCode::NO_CONTENT);
    };
    if let Some(image) = before.image {
        state.images.discard(image.file_id).await;
    }
    tracing::info!(product_id = %id, "product image removed");
    Ok(StatusCode::NO_CONTENT)
}
