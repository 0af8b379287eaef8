//! The query strings of the list routes: `GET /products`' filters and order, and
//! `GET /inventory`'s threshold.

use common_api::{
    ApiResult,
    error::Violations,
    money::{Currency, Decimal},
    openapi::or_empty,
    pagination::Page,
    validate::Validate,
};
use common_catalog::category_key;
use mongodb::bson::oid::ObjectId;
use serde::Deserialize;
use utoipa::{
    IntoParams,
    openapi::{
        KnownFormat, RefOr, Schema, SchemaFormat,
        schema::{ObjectBuilder, Type},
    },
};

use super::products::MAX_QUERY_CHARS;
use crate::products::catalog::{Query, Sort};

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
    pub min_price: Option<Decimal>,
    /// The highest price, inclusive; not below `min_price` (empty means no bound).
    #[serde(
        default,
        deserialize_with = "common_api::extract::empty_as_none_parsed"
    )]
    #[param(schema_with = price_or_empty)]
    pub max_price: Option<Decimal>,
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
    pub sort: Option<Sort>,
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
    or_empty(<Sort as utoipa::PartialSchema>::schema())
}

impl ProductFilter {
    /// The catalog query for this filter and `page` (both validated), its price bounds in minor
    /// units of `currency`, rounded inwards (`min_price=19.991` keeps nothing priced 19.99).
    pub fn to_query(&self, page: Page, currency: Currency) -> Query {
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
            min_price: self.min_price.as_ref().map(|min| currency.minor_ceil(min)),
            max_price: self.max_price.as_ref().map(|max| currency.minor_floor(max)),
            in_stock: self.in_stock == Some(true),
            sort: self.sort.unwrap_or_default(),
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
        if let (Some(min), Some(max)) = (&self.min_price, &self.max_price)
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
