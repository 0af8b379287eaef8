//! The slug rule: how a category's name becomes the last segment of its URL.

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
