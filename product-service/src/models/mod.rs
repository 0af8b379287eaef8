//! Request and response bodies of the product service, and the rules their fields follow: a
//! limit is a constant here, checked by a body's [`Validate`](common_api::validate::Validate)
//! impl and stated in its `#[schema]` attribute (whose literals the tests below hold to the
//! constants).

mod categories;
mod filters;
pub mod patch;
mod products;

pub use self::{
    categories::{
        CategoryView, CreateCategory, MAX_DESCRIPTION_CHARS as MAX_CATEGORY_DESCRIPTION_CHARS,
        SlugPath, UpdateCategory,
    },
    filters::{InventoryFilter, ProductFilter},
    products::{
        CreateProduct, MAX_CATEGORY_CHARS, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_PRICE,
        MAX_QUERY_CHARS, MAX_STOCK, ProductResponse, StockChange, UpdateProduct,
    },
};

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use utoipa::{IntoParams, PartialSchema};

    use super::*;
    use crate::products::categories::slug::SLUG_PATTERN;

    fn properties<T: PartialSchema>() -> Value {
        serde_json::to_value(T::schema()).unwrap()["properties"].clone()
    }

    #[test]
    fn the_documented_limits_are_the_ones_enforced() {
        for fields in [properties::<CreateProduct>(), properties::<UpdateProduct>()] {
            assert_eq!(fields["name"]["maxLength"], MAX_NAME_CHARS, "{fields}");
            assert_eq!(fields["description"]["maxLength"], MAX_DESCRIPTION_CHARS);
            assert_eq!(fields["category"]["maxLength"], MAX_CATEGORY_CHARS);
            assert_eq!(fields["price"]["maximum"], MAX_PRICE);
        }
        assert_eq!(properties::<CreateProduct>()["stock"]["maximum"], MAX_STOCK);
        for fields in [
            properties::<CreateCategory>(),
            properties::<UpdateCategory>(),
        ] {
            assert_eq!(fields["name"]["maxLength"], MAX_CATEGORY_CHARS, "{fields}");
            assert_eq!(
                fields["description"]["maxLength"],
                MAX_CATEGORY_DESCRIPTION_CHARS
            );
        }
    }

    #[test]
    fn the_documented_slug_pattern_is_the_slug_rules() {
        let slug = &properties::<CategoryView>()["slug"];
        let path = serde_json::to_value(SlugPath::into_params(|| None)).unwrap();

        assert_eq!(slug["pattern"], SLUG_PATTERN);
        assert_eq!(path[0]["schema"]["pattern"], SLUG_PATTERN);
    }
}
