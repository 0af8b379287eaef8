//! The domain's typed errors as the contract's answers: the one place that picks their statuses,
//! codes and sentences.

use axum::http::StatusCode;
use common_api::{
    ApiError,
    error::{FieldError, Loc},
};

use crate::{
    models::MAX_STOCK,
    products::{CategoryError, Clash, ImageError, ProductError, images::ImageFormat},
};

impl From<ProductError> for ApiError {
    fn from(err: ProductError) -> Self {
        match err {
            ProductError::NotFound => ApiError::not_found("PRODUCT_NOT_FOUND", "Product not found"),
            ProductError::NotOwner => {
                ApiError::forbidden("Only the product's seller or an admin may change it")
            }
            ProductError::InsufficientStock {
                id,
                in_stock,
                requested,
            } => ApiError::conflict(
                "INSUFFICIENT_STOCK",
                format!(
                    "Insufficient stock for product {id}: {in_stock} in stock, {requested} requested"
                ),
            ),
            ProductError::StockLimit { id } => ApiError::conflict(
                "STOCK_LIMIT",
                format!("Stock of product {id} would exceed {MAX_STOCK}"),
            ),
            ProductError::PriceTooPrecise(currency) => ApiError::Validation(vec![FieldError::new(
                [Loc::from("body"), Loc::from("price")],
                format!(
                    "Price should have at most {} decimals in {currency}",
                    currency.exponent()
                ),
                "value_error",
            )]),
            ProductError::Database(err) => err.into(),
        }
    }
}

impl From<CategoryError> for ApiError {
    fn from(err: CategoryError) -> Self {
        match err {
            CategoryError::NotFound => {
                ApiError::not_found("CATEGORY_NOT_FOUND", "Category not found")
            }
            CategoryError::Exists(Clash::Name { existing }) => ApiError::conflict(
                "CATEGORY_EXISTS",
                format!("Category {existing} already exists"),
            ),
            CategoryError::Exists(Clash::Slug { slug, name }) => ApiError::conflict(
                "CATEGORY_EXISTS",
                format!("Another category already has the slug {slug} of {name}"),
            ),
            CategoryError::InUse { name } => ApiError::conflict(
                "CATEGORY_IN_USE",
                format!("Category {name} still has products; move or delete them first"),
            ),
            CategoryError::Database(err) => err.into(),
            err @ (CategoryError::KeptChanging { .. } | CategoryError::Rename(_)) => {
                ApiError::internal(err)
            }
        }
    }
}

impl From<ImageError> for ApiError {
    fn from(err: ImageError) -> Self {
        match err {
            ImageError::Product(err) => err.into(),
            ImageError::NoImage => {
                ApiError::not_found("IMAGE_NOT_FOUND", "The product has no image")
            }
            ImageError::Busy => ApiError::Overloaded {
                retry_after_secs: 1,
            },
            ImageError::Empty => ApiError::Validation(vec![FieldError::new(
                [Loc::from("body")],
                "The image is empty",
                "missing",
            )]),
            ImageError::NotOfFormat(format) => unsupported(match format {
                ImageFormat::Png => "The body is not a PNG image",
                ImageFormat::Jpeg => "The body is not a JPEG image",
                ImageFormat::Webp => "The body is not a WebP image",
            }),
            ImageError::Database(err) => err.into(),
        }
    }
}

/// 415 `UNSUPPORTED_MEDIA_TYPE` with `detail`.
pub(super) fn unsupported(detail: &'static str) -> ApiError {
    ApiError::client(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
        detail,
    )
}
