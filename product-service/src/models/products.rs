//! The bodies of the product routes, and the rules their fields follow.

use common_api::{
    ApiError, ApiResult,
    error::Violations,
    money::{Amount, Currency, Decimal},
    time::rfc3339,
    validate::Validate,
};
use common_catalog::ProductDoc;
use serde::{Deserialize, Serialize};
use utoipa::{
    ToSchema,
    openapi::{
        RefOr, Schema,
        schema::{AnyOfBuilder, ObjectBuilder, Type},
    },
};

/// The longest product name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 5000;
/// The longest category, in characters.
pub const MAX_CATEGORY_CHARS: usize = 100;
/// The highest price, in major units.
pub const MAX_PRICE: i64 = 1_000_000_000;
/// The most units a product can have in stock.
pub const MAX_STOCK: i64 = 1_000_000_000;
/// The longest search text: no name is longer, so a longer one could never match.
pub const MAX_QUERY_CHARS: usize = MAX_NAME_CHARS;

/// `POST /products`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Desk lamp", "description": "Warm light, adjustable arm", "price": 39.9, "category": "Home", "stock": 25}))]
pub struct CreateProduct {
    /// 1 to 200 characters, not only white space; stored trimmed (the length counts the
    /// trimmed name).
    #[schema(min_length = 1, max_length = 200, pattern = r"[^\s\u0085]")]
    pub name: String,
    /// Up to 5000 characters.
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub description: String,
    /// A number from 0 to 1e9 with at most the currency's decimals (2 for USD), read from its
    /// text and kept exactly.
    #[serde(deserialize_with = "common_api::money::json_decimal")]
    #[schema(value_type = f64, minimum = 0, maximum = 1_000_000_000)]
    pub price: Decimal,
    /// Up to 100 characters (once trimmed); matched case-insensitively.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub category: String,
    /// Whole units from 0 to 1e9 (default 0; a whole-valued number such as `25.0` is accepted).
    #[serde(default, deserialize_with = "common_api::extract::whole_number")]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub stock: i64,
}

impl Validate for CreateProduct {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        PRODUCT_TEXT.check(&mut violations, Some(&self.name), Some(&self.description));
        check_price(&mut violations, &self.price);
        check_category(&mut violations, &self.category);
        if !(0..=MAX_STOCK).contains(&self.stock) {
            violations.add(
                "stock",
                format!("Stock should be a whole number from 0 to {MAX_STOCK}"),
                "value_error",
            );
        }
        violations.finish()
    }
}

/// The fields of `PATCH /products/{id}`, each optional; a `null` counts as absent, as the
/// earlier system read it. Stock changes only through `POST /products/{id}/stock`.
// The document's schema is derived from this struct; `super::patch` adds "at least one field with
// a value", which [`Validate`] checks.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(min_properties = 1, example = json!({"price": 34.9}))]
pub struct UpdateProduct {
    /// 1 to 200 characters, not only white space (the length counts the trimmed name).
    #[schema(min_length = 1, max_length = 200, pattern = r"[^\s\u0085]")]
    pub name: Option<String>,
    /// Up to 5000 characters.
    #[schema(max_length = 5000)]
    pub description: Option<String>,
    /// A number from 0 to 1e9 with at most the currency's decimals.
    #[serde(default, deserialize_with = "common_api::money::json_decimal_opt")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1_000_000_000)]
    pub price: Option<Decimal>,
    /// Up to 100 characters (once trimmed).
    #[schema(max_length = 100)]
    pub category: Option<String>,
}

impl Validate for UpdateProduct {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        let (name, description) = (self.name.as_deref(), self.description.as_deref());
        PRODUCT_TEXT.check(&mut violations, name, description);
        if let Some(price) = &self.price {
            check_price(&mut violations, price);
        }
        if let Some(category) = &self.category {
            check_category(&mut violations, category);
        }
        let empty = self.name.is_none()
            && self.description.is_none()
            && self.price.is_none()
            && self.category.is_none();
        if empty {
            violations.add_at(
                [],
                "Give at least one of name, description, price, category",
                "value_error",
            );
        }
        violations.finish()
    }
}

/// The limits of a `name` and a `description`, which products and categories both have (with
/// limits of their own).
#[derive(Clone, Copy)]
pub(super) struct TextLimits {
    /// The most characters of a name, counted trimmed.
    pub name: usize,
    /// The most characters of a description.
    pub description: usize,
}

/// A product's name and description.
const PRODUCT_TEXT: TextLimits = TextLimits {
    name: MAX_NAME_CHARS,
    description: MAX_DESCRIPTION_CHARS,
};

impl TextLimits {
    /// Checks the `name` and `description` given: a name not empty once trimmed and within its
    /// limit (counted trimmed), a description within its own.
    pub(super) fn check(
        self,
        violations: &mut Violations,
        name: Option<&str>,
        description: Option<&str>,
    ) {
        let name_length = name.map(|name| name.trim().chars().count());
        if name_length == Some(0) {
            violations.add("name", "Name should not be empty", "string_too_short");
        } else if name_length.is_some_and(|length| length > self.name) {
            violations.add(
                "name",
                format!("Name should have at most {} characters", self.name),
                "string_too_long",
            );
        }
        if description.is_some_and(|text| text.chars().count() > self.description) {
            violations.add(
                "description",
                format!(
                    "Description should have at most {} characters",
                    self.description
                ),
                "string_too_long",
            );
        }
    }
}

fn check_price(violations: &mut Violations, price: &Decimal) {
    if !price.within(0, MAX_PRICE) {
        violations.add(
            "price",
            "Price should be a finite number from 0 to 1000000000",
            "value_error",
        );
    }
}

fn check_category(violations: &mut Violations, category: &str) {
    if category.trim().chars().count() > MAX_CATEGORY_CHARS {
        violations.add(
            "category",
            format!("Category should have at most {MAX_CATEGORY_CHARS} characters"),
            "string_too_long",
        );
    }
}

/// `POST /products/{id}/stock`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"delta": -2}))]
pub struct StockChange {
    /// Units to add (positive) or take (negative), from -1e9 to 1e9 and not 0 (a whole-valued
    /// number such as `-2.0` is accepted).
    #[serde(deserialize_with = "common_api::extract::whole_number")]
    #[schema(schema_with = non_zero_delta)]
    pub delta: i64,
}

/// The schema of [`StockChange::delta`]: a whole number from -1e9 to -1 or from 1 to 1e9, since
/// one range cannot leave out the 0 that [`StockChange::validate`] refuses.
fn non_zero_delta() -> RefOr<Schema> {
    let range = |min: i64, max: i64| {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(min))
            .maximum(Some(max))
    };
    AnyOfBuilder::new()
        .item(range(-MAX_STOCK, -1))
        .item(range(1, MAX_STOCK))
        .description(Some(
            "Units to add (positive) or take (negative), from -1e9 to 1e9 and not 0 (a \
             whole-valued number such as `-2.0` is accepted).",
        ))
        .into()
}

impl Validate for StockChange {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        if self.delta == 0 || self.delta.unsigned_abs() > MAX_STOCK.unsigned_abs() {
            violations.add(
                "delta",
                format!("Delta should be a non-zero whole number from -{MAX_STOCK} to {MAX_STOCK}"),
                "value_error",
            );
        }
        violations.finish()
    }
}

/// A product as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductResponse {
    /// The product's id.
    #[schema(example = "6560b5f2a1b2c3d4e5f60718")]
    pub id: String,
    /// The name.
    pub name: String,
    /// The description.
    pub description: String,
    /// The price, exact, with at most the currency's decimals.
    pub price: Amount,
    /// The deployment's currency (ISO 4217).
    #[schema(example = "USD")]
    pub currency: &'static str,
    /// The category ("" for none).
    pub category: String,
    /// Units in stock.
    pub stock: i64,
    /// The seller who owns the product.
    pub seller_id: String,
    /// When the product was created (RFC 3339, UTC).
    #[schema(format = DateTime, example = "2026-11-23T13:45:00Z")]
    pub created_at: String,
    /// When the product last changed (RFC 3339, UTC).
    #[schema(format = DateTime, example = "2026-11-23T13:45:00Z")]
    pub updated_at: String,
    /// Where its image is served, relative to the product service's base URL (behind a gateway,
    /// prefix the gateway's base URL); `null` when it has none. The `v` parameter changes with
    /// every new image.
    #[schema(example = "/products/6560b5f2a1b2c3d4e5f60718/image?v=3f2a9c0d1e2b4a5c")]
    pub image_url: Option<String>,
}

impl ProductResponse {
    /// `product` as the API shows it, its price in `currency`; 500 for a stored price that is no
    /// amount (a float written by hand that is not finite, or too large).
    pub fn of(product: ProductDoc, currency: Currency) -> ApiResult<Self> {
        let price = product.price.minor(currency).ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "product {} has a stored price that is no amount: {:?}",
                product.id,
                product.price
            ))
        })?;
        Ok(Self {
            id: product.id.to_hex(),
            name: product.name,
            description: product.description,
            price: currency.amount(price),
            currency: currency.code(),
            category: product.category,
            stock: product.stock,
            seller_id: product.seller_id.to_hex(),
            created_at: rfc3339(product.created_at),
            updated_at: rfc3339(product.updated_at),
            image_url: product
                .image
                .as_ref()
                .map(|image| crate::products::images::image_url(product.id, image)),
        })
    }

    /// Each of `products` as the API shows it.
    pub fn all(products: Vec<ProductDoc>, currency: Currency) -> ApiResult<Vec<Self>> {
        products
            .into_iter()
            .map(|product| Self::of(product, currency))
            .collect()
    }
}
