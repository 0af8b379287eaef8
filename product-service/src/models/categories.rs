//! The bodies and path of the category routes, and the rules their fields follow (the slug rule
//! itself is `crate::products::categories::slug`'s).

use common_api::{ApiResult, error::Violations, validate::Validate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::products::{MAX_CATEGORY_CHARS, TextLimits};

/// The longest category name, in characters (once trimmed); a product's category has the same
/// limit.
pub const MAX_NAME_CHARS: usize = MAX_CATEGORY_CHARS;
/// The longest category description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

/// A category's name and description.
const CATEGORY_TEXT: TextLimits = TextLimits {
    name: MAX_NAME_CHARS,
    description: MAX_DESCRIPTION_CHARS,
};

/// A category as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = Category, example = json!({"name": "Home & Garden", "slug": "home-garden", "description": "For the house", "product_count": 12}))]
pub struct CategoryView {
    /// The name, unique regardless of case.
    pub name: String,
    /// The name lowercased, with every run of other characters than letters and digits as `-`.
    #[schema(pattern = r"^[^\s/-]+(-[^\s/-]+)*$")]
    pub slug: String,
    /// The description ("" for none).
    pub description: String,
    /// How many products are in it.
    pub product_count: u64,
}

/// The `{slug}` of `PATCH` and `DELETE /categories/{slug}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SlugPath {
    /// The category's slug
    #[param(pattern = r"^[^\s/-]+(-[^\s/-]+)*$")]
    pub slug: String,
}

/// `POST /categories`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Home & Garden", "description": "For the house"}))]
pub struct CreateCategory {
    /// 1 to 100 characters, not only white space; stored trimmed (the length counts the trimmed
    /// name). Unique regardless of case, and its slug must be free.
    #[schema(min_length = 1, max_length = 100, pattern = r"[^\s\u0085]")]
    pub name: String,
    /// Up to 1000 characters (default "").
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub description: String,
}

impl Validate for CreateCategory {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        CATEGORY_TEXT.check(&mut violations, Some(&self.name), Some(&self.description));
        violations.finish()
    }
}

/// The fields of `PATCH /categories/{slug}`, each optional; a `null` counts as absent, as for a
/// product.
// The document's schema is derived from this struct; `super::patch` adds "at least one field with
// a value", which [`Validate`] checks.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(min_properties = 1, example = json!({"name": "Home & Living"}))]
pub struct UpdateCategory {
    /// 1 to 100 characters, not only white space (the length counts the trimmed name). A new
    /// name renames the category in every product; one differing only in case respells it.
    #[schema(min_length = 1, max_length = 100, pattern = r"[^\s\u0085]")]
    pub name: Option<String>,
    /// Up to 1000 characters.
    #[schema(max_length = 1000)]
    pub description: Option<String>,
}

impl Validate for UpdateCategory {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        let (name, description) = (self.name.as_deref(), self.description.as_deref());
        CATEGORY_TEXT.check(&mut violations, name, description);
        if self.name.is_none() && self.description.is_none() {
            violations.add_at([], "Give at least one of name, description", "value_error");
        }
        violations.finish()
    }
}
