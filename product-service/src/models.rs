//! Request and response bodies of the product service, and the rules their fields must follow.

use common_api::{
    ApiResult, error::Violations, openapi::or_empty, pagination::Page, time::rfc3339,
    validate::Validate,
};
use common_catalog::{ProductDoc, category_key};
use mongodb::bson::oid::ObjectId;
use serde::{Deserialize, Serialize};
use utoipa::{
    IntoParams, ToSchema,
    openapi::{
        KnownFormat, RefOr, Schema, SchemaFormat,
        schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, Type},
    },
};

use crate::catalog::{Query, Sort};

/// The longest product name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 5000;
/// The longest category, in characters.
pub const MAX_CATEGORY_CHARS: usize = 100;
/// The highest price.
pub const MAX_PRICE: f64 = 1e9;
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
    /// A finite number from 0 to 1e9, kept as sent.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub price: f64,
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
        check_name(&mut violations, &self.name);
        check_description(&mut violations, &self.description);
        check_price(&mut violations, self.price);
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

/// `PATCH /products/{id}`: any of the fields; stock changes only through `POST /products/{id}/stock`.
///
/// Its OpenAPI schema is written by hand (below) to state "at least one of the four fields, not
/// `null`", which the derive cannot say.
#[derive(Debug, Deserialize)]
pub struct UpdateProduct {
    /// 1 to 200 characters, not only spaces.
    pub name: Option<String>,
    /// Up to 5000 characters.
    pub description: Option<String>,
    /// A finite number from 0 to 1e9.
    pub price: Option<f64>,
    /// Up to 100 characters.
    pub category: Option<String>,
}

/// The fields [`UpdateProduct`] reads, as the OpenAPI document shows them: each optional, and
/// `null` where given counts as absent (as the earlier system read it), so a body must name at
/// least one of them with a value.
#[derive(ToSchema)]
#[schema(min_properties = 1)]
#[expect(
    dead_code,
    reason = "never built: it only describes UpdateProduct for OpenAPI"
)]
struct UpdateProductFields {
    /// 1 to 200 characters, not only white space (the length counts the trimmed name).
    #[schema(min_length = 1, max_length = 200, pattern = r"[^\s\u0085]")]
    name: Option<String>,
    /// Up to 5000 characters.
    #[schema(max_length = 5000)]
    description: Option<String>,
    /// A finite number from 0 to 1e9.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    price: Option<f64>,
    /// Up to 100 characters (once trimmed).
    #[schema(max_length = 100)]
    category: Option<String>,
}

/// The fields a `PATCH /products/{id}` body must give a value (not `null`) for at least one of,
/// with that value's type.
const UPDATABLE: [(&str, Type); 4] = [
    ("name", Type::String),
    ("description", Type::String),
    ("price", Type::Number),
    ("category", Type::String),
];

impl utoipa::PartialSchema for UpdateProduct {
    fn schema() -> RefOr<Schema> {
        patch_schema(
            <UpdateProductFields as utoipa::PartialSchema>::schema(),
            &UPDATABLE,
            "At least one of `name`, `description`, `price`, `category` with a value; \
             a `null` field counts as absent, and other properties are ignored. Stock \
             changes only through `POST /products/{id}/stock`.",
            serde_json::json!({"price": 34.9}),
        )
    }
}

/// The OpenAPI schema of a `PATCH` body: the optional, nullable `fields`, of which at least one
/// of `updatable` must be given a value of its type (a `null` counts as absent).
pub(crate) fn patch_schema(
    fields: RefOr<Schema>,
    updatable: &[(&str, Type)],
    description: &str,
    example: serde_json::Value,
) -> RefOr<Schema> {
    let at_least_one = updatable
        .iter()
        .map(|(field, kind)| {
            let value = ObjectBuilder::new().schema_type(kind.clone());
            ObjectBuilder::new()
                .required(*field)
                .property(*field, value)
        })
        .fold(AnyOfBuilder::new(), AnyOfBuilder::item);
    AllOfBuilder::new()
        .item(fields)
        .item(at_least_one)
        .description(Some(description))
        .examples([example])
        .into()
}

impl ToSchema for UpdateProduct {}

impl Validate for UpdateProduct {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        if let Some(name) = &self.name {
            check_name(&mut violations, name);
        }
        if let Some(description) = &self.description {
            check_description(&mut violations, description);
        }
        if let Some(price) = self.price {
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

fn check_name(violations: &mut Violations, name: &str) {
    check_name_within(violations, name, MAX_NAME_CHARS);
}

fn check_description(violations: &mut Violations, description: &str) {
    check_description_within(violations, description, MAX_DESCRIPTION_CHARS);
}

/// A `name` field: not empty once trimmed, at most `max` characters (counted trimmed).
pub(crate) fn check_name_within(violations: &mut Violations, name: &str, max: usize) {
    let length = name.trim().chars().count();
    if length == 0 {
        violations.add("name", "Name should not be empty", "string_too_short");
    } else if length > max {
        violations.add(
            "name",
            format!("Name should have at most {max} characters"),
            "string_too_long",
        );
    }
}

/// A `description` field: at most `max` characters.
pub(crate) fn check_description_within(violations: &mut Violations, description: &str, max: usize) {
    if description.chars().count() > max {
        violations.add(
            "description",
            format!("Description should have at most {max} characters"),
            "string_too_long",
        );
    }
}

fn check_price(violations: &mut Violations, price: f64) {
    if !price.is_finite() || !(0.0..=MAX_PRICE).contains(&price) {
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
    /// The price, as the seller gave it.
    pub price: f64,
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

impl From<ProductDoc> for ProductResponse {
    fn from(product: ProductDoc) -> Self {
        Self {
            id: product.id.to_hex(),
            name: product.name,
            description: product.description,
            price: product.price,
            category: product.category,
            stock: product.stock,
            seller_id: product.seller_id.to_hex(),
            created_at: rfc3339(product.created_at),
            updated_at: rfc3339(product.updated_at),
            image_url: product
                .image
                .as_ref()
                .map(|image| crate::images::image_url(product.id, image)),
        }
    }
}

/// The filter of `GET /inventory`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InventoryFilter {
    /// Products with at most this many units in stock: a whole number, 0 or more (default 0,
    /// the products sold out).
    #[serde(
        default,
        deserialize_with = "common_api::extract::empty_as_none_parsed"
    )]
    #[param(minimum = 0, default = 0)]
    pub below: Option<i64>,
}

impl InventoryFilter {
    /// The threshold, with its default.
    pub fn below(&self) -> i64 {
        self.below.unwrap_or(0)
    }
}

impl Validate for InventoryFilter {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::query();
        if self.below.is_some_and(|below| below < 0) {
            violations.add(
                "below",
                "Input should be greater than or equal to 0",
                "greater_than_equal",
            );
        }
        violations.finish()
    }
}

/// Filters and order of `GET /products`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductFilter {
    /// Text the name contains, in any case, taken literally (`(`, `.*` and `\` are characters,
    /// not a pattern); empty means no filter. At most 200 characters, no NUL.
    #[param(max_length = 200, pattern = r"^[^\u0000]*$")]
    pub q: Option<String>,
    /// Exactly this category, in any case; no NUL.
    #[serde(default, deserialize_with = "common_api::extract::empty_as_none")]
    #[param(pattern = r"^[^\u0000]*$")]
    pub category: Option<String>,
    /// Only this seller's products (24 hex characters; empty means no filter).
    #[serde(default, deserialize_with = "common_api::extract::empty_as_none")]
    #[param(pattern = "^([0-9a-fA-F]{24})?$")]
    pub seller_id: Option<String>,
    /// The lowest price, inclusive; a finite number (empty means no bound).
    #[serde(
        default,
        deserialize_with = "common_api::extract::empty_as_none_parsed"
    )]
    #[param(schema_with = price_or_empty)]
    pub min_price: Option<f64>,
    /// The highest price, inclusive; not below `min_price` (empty means no bound).
    #[serde(
        default,
        deserialize_with = "common_api::extract::empty_as_none_parsed"
    )]
    #[param(schema_with = price_or_empty)]
    pub max_price: Option<f64>,
    /// `true`: only products with stock. `false`, empty or absent: any.
    #[serde(
        default,
        deserialize_with = "common_api::extract::empty_as_none_parsed"
    )]
    #[param(schema_with = bool_or_empty)]
    pub in_stock: Option<bool>,
    /// The order (default `created_at`, oldest first; also when empty). Ties are broken by id, so
    /// pages neither skip nor repeat.
    #[serde(default, deserialize_with = "common_api::extract::empty_as_none")]
    #[param(schema_with = sort_or_empty)]
    pub sort: Option<ProductSort>,
}

fn price_or_empty() -> RefOr<Schema> {
    let price = ObjectBuilder::new()
        .schema_type(Type::Number)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)));
    or_empty(price)
}

fn bool_or_empty() -> RefOr<Schema> {
    or_empty(ObjectBuilder::new().schema_type(Type::Boolean))
}

fn sort_or_empty() -> RefOr<Schema> {
    or_empty(<ProductSort as utoipa::PartialSchema>::schema())
}

/// The orders of `GET /products`; `-` means descending.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
pub enum ProductSort {
    /// Oldest first.
    #[default]
    #[serde(rename = "created_at")]
    CreatedAt,
    /// Newest first.
    #[serde(rename = "-created_at")]
    CreatedAtDesc,
    /// Cheapest first.
    #[serde(rename = "price")]
    Price,
    /// Dearest first.
    #[serde(rename = "-price")]
    PriceDesc,
    /// By name, in any case.
    #[serde(rename = "name")]
    Name,
}

impl From<ProductSort> for Sort {
    fn from(sort: ProductSort) -> Self {
        match sort {
            ProductSort::CreatedAt => Sort::CreatedAt,
            ProductSort::CreatedAtDesc => Sort::CreatedAtDesc,
            ProductSort::Price => Sort::Price,
            ProductSort::PriceDesc => Sort::PriceDesc,
            ProductSort::Name => Sort::Name,
        }
    }
}

impl ProductFilter {
    /// The catalog query for this filter and `page` (both validated).
    pub fn to_query(&self, page: Page) -> Query {
        Query {
            text: self
                .q
                .as_deref()
                .filter(|q| !q.is_empty())
                .map(str::to_lowercase),
            category_key: self.category.as_deref().map(category_key),
            seller: self
                .seller_id
                .as_deref()
                .and_then(|id| ObjectId::parse_str(id).ok()),
            min_price: self.min_price,
            max_price: self.max_price,
            in_stock: self.in_stock == Some(true),
            sort: self.sort.unwrap_or_default().into(),
            offset: usize::try_from(page.offset).unwrap_or(usize::MAX),
            limit: usize::try_from(page.limit).unwrap_or(0),
        }
    }
}

impl Validate for ProductFilter {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::query();
        if let Some(q) = &self.q {
            if q.chars().count() > MAX_QUERY_CHARS {
                violations.add(
                    "q",
                    format!("Search text should have at most {MAX_QUERY_CHARS} characters"),
                    "string_too_long",
                );
            }
            if q.contains('\0') {
                violations.add("q", "Search text should not contain NUL", "value_error");
            }
        }
        if self.category.as_ref().is_some_and(|c| c.contains('\0')) {
            violations.add("category", "Category should not contain NUL", "value_error");
        }
        if let Some(seller) = &self.seller_id
            && ObjectId::parse_str(seller).is_err()
        {
            violations.add(
                "seller_id",
                "Seller id should be 24 hex characters",
                "value_error",
            );
        }
        for (name, price) in [("min_price", self.min_price), ("max_price", self.max_price)] {
            if price.is_some_and(|price| !price.is_finite()) {
                violations.add(name, "Price should be a finite number", "value_error");
            }
        }
        if let (Some(min), Some(max)) = (self.min_price, self.max_price)
            && min > max
        {
            violations.add(
                "min_price",
                "min_price should not be above max_price",
                "value_error",
            );
        }
        violations.finish()
    }
}
