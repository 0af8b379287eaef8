//! Request and response bodies of the category routes, the rules their fields follow, and the
//! slug rule.

use common_api::{ApiResult, error::Violations, validate::Validate};
use serde::{Deserialize, Serialize};
use utoipa::{
    ToSchema,
    openapi::{RefOr, Schema, schema::Type},
};

use crate::models::{check_description_within, check_name_within, patch_schema};

/// The longest category name, in characters (once trimmed); a product's category has the same
/// limit.
pub const MAX_NAME_CHARS: usize = crate::models::MAX_CATEGORY_CHARS;
/// The longest category description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// The slug of a name with no letter or digit at all (such as `"???"`).
pub const FALLBACK_SLUG: &str = "category";
/// The pattern every slug matches, as the OpenAPI document states it: runs of lowercase letters
/// and digits (of any script) joined by single `-`. Broader than the slugs made, never narrower,
/// so no slug the service hands out is refused by it.
pub const SLUG_PATTERN: &str = r"^[^\s/-]+(-[^\s/-]+)*$";

/// The slug of a category name: lowercased, every run of characters that are not letters or
/// digits (Unicode) turned into one `-`, with no `-` at either end; [`FALLBACK_SLUG`] when nothing
/// is left. `"Home & Garden"` → `home-garden`, `"Crème Brûlée"` → `crème-brûlée`.
pub fn slug_of(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    let mut gap = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if gap && !slug.is_empty() {
                slug.push('-');
            }
            gap = false;
            slug.push(c);
        } else {
            gap = true;
        }
    }
    if slug.is_empty() {
        FALLBACK_SLUG.to_owned()
    } else {
        slug
    }
}

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
        check_name(&mut violations, &self.name);
        check_description(&mut violations, &self.description);
        violations.finish()
    }
}

/// `PATCH /categories/{slug}`: any of the fields, at least one.
///
/// Its OpenAPI schema is written by hand (below), as [`crate::models::UpdateProduct`]'s is, to
/// state "at least one of the fields, not `null`".
#[derive(Debug, Deserialize)]
pub struct UpdateCategory {
    /// A new name: 1 to 100 characters, not only white space.
    pub name: Option<String>,
    /// A new description: up to 1000 characters.
    pub description: Option<String>,
}

/// The fields [`UpdateCategory`] reads, as the OpenAPI document shows them: each optional, and
/// `null` where given counts as absent (as for a product), so a body must name at least one of
/// them with a value.
#[derive(ToSchema)]
#[schema(min_properties = 1)]
#[expect(
    dead_code,
    reason = "never built: it only describes UpdateCategory for OpenAPI"
)]
struct UpdateCategoryFields {
    /// 1 to 100 characters, not only white space (the length counts the trimmed name). A new
    /// name renames the category in every product; one differing only in case respells it.
    #[schema(min_length = 1, max_length = 100, pattern = r"[^\s\u0085]")]
    name: Option<String>,
    /// Up to 1000 characters.
    #[schema(max_length = 1000)]
    description: Option<String>,
}

/// The fields a `PATCH /categories/{slug}` body must give a value (not `null`) for at least one
/// of.
const UPDATABLE: [(&str, Type); 2] = [("name", Type::String), ("description", Type::String)];

impl utoipa::PartialSchema for UpdateCategory {
    fn schema() -> RefOr<Schema> {
        patch_schema(
            <UpdateCategoryFields as utoipa::PartialSchema>::schema(),
            &UPDATABLE,
            "At least one of `name`, `description` with a value; a `null` field counts as \
             absent, and other properties are ignored.",
            serde_json::json!({"name": "Home & Living"}),
        )
    }
}

impl ToSchema for UpdateCategory {}

impl Validate for UpdateCategory {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        if let Some(name) = &self.name {
            check_name(&mut violations, name);
        }
        if let Some(description) = &self.description {
            check_description(&mut violations, description);
        }
        if self.name.is_none() && self.description.is_none() {
            violations.add_at([], "Give at least one of name, description", "value_error");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slug_is_the_lowercased_name_with_runs_of_other_characters_as_one_dash() {
        assert_eq!(slug_of("Home & Garden"), "home-garden");
        assert_eq!(slug_of("  --Kids' Toys!! "), "kids-toys");
        assert_eq!(slug_of("USB-C  cables/2024"), "usb-c-cables-2024");
        assert_eq!(slug_of("Crème Brûlée"), "crème-brûlée");
        assert_eq!(slug_of("???"), FALLBACK_SLUG);
    }

    #[test]
    fn names_differing_in_punctuation_share_a_slug() {
        assert_eq!(slug_of("Home & Garden"), slug_of("home garden"));
    }
}
