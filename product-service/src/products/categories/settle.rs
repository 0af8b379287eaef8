//! What a product's write does to its category: finds it before the write ([`Categories::resolve`]),
//! settles into it after ([`Categories::settle`]), and lets it go when the product leaves
//! ([`Categories::left`]); the races these steps close are explained in the module above.

use common_catalog::{ProductDoc, category_key};
use mongodb::error::Error;

use super::{ATTEMPTS, Categories, slug::slug_of};
use crate::store::{CategoryDoc, Inserted};

/// How many random slug suffixes are tried for a category created implicitly whose slug is
/// taken: one is enough but for a one-in-four-billion chance.
const SLUG_SUFFIXES: usize = 3;

impl Categories {
    /// The category a product naming `name` (trimmed) belongs to: an existing one that matches in
    /// any case (or is being renamed from it), whose name the product carries, or a new one.
    pub async fn resolve(&self, name: &str) -> Result<Resolved, Error> {
        let key = category_key(name);
        if key.is_empty() {
            return Ok(Resolved::None);
        }
        Ok(match self.store.find_by_key(&key).await? {
            Some(category) => Resolved::Existing(Box::new(category)),
            None => Resolved::New(name.trim().to_owned()),
        })
    }

    /// Once `product` is stored with the category `resolved` named: makes sure that category
    /// exists (creating it if the product named a new one, or if it was deleted meanwhile), and
    /// that the product carries it as it now is (moving the product if the category was renamed
    /// meanwhile). Returns the product if it had to be moved.
    pub async fn settle(
        &self,
        product: &ProductDoc,
        resolved: Resolved,
    ) -> Result<Option<ProductDoc>, Error> {
        let (mut name, mut key) = (product.category.clone(), product.category_key.clone());
        let mut current = match resolved {
            Resolved::None => return Ok(None),
            // Read again: it may have changed since the product's write looked it up.
            Resolved::Existing(found) => self.store.find(found.id).await?,
            Resolved::New(_) => None,
        };
        let mut moved = None;
        for _ in 0..ATTEMPTS {
            let category = match current.take() {
                Some(category) => category,
                // Gone (deleted after the look-up) or never there: the product creates it.
                None => match self.ensure(&name).await? {
                    Some(category) => category,
                    None => return Ok(moved),
                },
            };
            if category.holds(&name, &key) {
                return Ok(moved);
            }
            // Renamed or respelled after the look-up, perhaps after its own pass over the
            // products: this product follows it.
            let Some(product) = self
                .products
                .move_to_category(product.id, &key, &category.name, &category.key)
                .await?
            else {
                // Changed or deleted by someone else since, whose write settles it in turn.
                return Ok(moved);
            };
            self.catalog.wrote(&product);
            let left = std::mem::replace(&mut key, product.category_key.clone());
            name.clone_from(&product.category);
            moved = Some(product);
            // The upkeep may have given the old key a category of its own meanwhile.
            self.left(&left).await?;
            current = self.store.find(category.id).await?;
        }
        tracing::warn!(product_id = %product.id, category = %name, "category kept changing while a product settled into it; the upkeep will finish");
        Ok(moved)
    }

    /// Once a product has left the category `key` (moved to another, or deleted): removes that
    /// category if a product created it and no product is left in it.
    pub async fn left(&self, key: &str) -> Result<(), Error> {
        if key.is_empty() {
            return Ok(());
        }
        let Some(category) = self.store.find_by_key(key).await? else {
            return Ok(());
        };
        if !category.implicit || category.rename.is_some() || category.key != key {
            return Ok(());
        }
        self.remove_if_empty(&category).await
    }

    /// Makes sure the category `name` exists, creating it (empty description, `implicit`) if not:
    /// what a product naming a new category does. Returns the category the name belongs to
    /// (perhaps spelled otherwise); `None` only if no slug could be found for it. When another
    /// category has its slug, it gets a random suffix, in one step.
    pub async fn ensure(&self, name: &str) -> Result<Option<CategoryDoc>, Error> {
        let name = name.trim();
        let key = category_key(name);
        if key.is_empty() {
            return Ok(None);
        }
        if let Some(found) = self.store.find_by_key(&key).await? {
            return Ok(Some(found));
        }
        let base = slug_of(name);
        let mut category = CategoryDoc::implicit(name.to_owned(), key.clone(), base.clone());
        for _ in 0..=SLUG_SUFFIXES {
            match self.store.insert(&category).await? {
                Inserted::Stored => {
                    tracing::info!(category = %name, slug = %category.slug, "category created for a product");
                    self.remember(category.clone());
                    return Ok(Some(category));
                }
                Inserted::Taken => {
                    // Someone else created it meanwhile: theirs. Otherwise the slug is taken.
                    if let Some(found) = self.store.find_by_key(&key).await? {
                        return Ok(Some(found));
                    }
                    category = category.with_slug(format!("{base}-{}", slug_suffix()));
                }
            }
        }
        tracing::warn!(category = %name, "no free slug for a product's category; it stays unmanaged");
        Ok(None)
    }

    /// Removes `category` (one a product created) if no product is in it, counted in MongoDB.
    pub(super) async fn remove_if_empty(&self, category: &CategoryDoc) -> Result<(), Error> {
        if self.products.any_in_category(&category.key).await? {
            return Ok(());
        }
        if self
            .store
            .delete_implicit(category.id, &category.key)
            .await?
        {
            tracing::info!(category = %category.name, "category removed with its last product");
            self.forget(category.id);
            self.after_removal(&category.key).await?;
        }
        Ok(())
    }

    /// After category `key` was deleted: a product written into it between the count that
    /// allowed the delete and the delete itself gets its category back, as a new one.
    pub(super) async fn after_removal(&self, key: &str) -> Result<(), Error> {
        if let Some(spelling) = self.products.category_spelling(key).await? {
            tracing::info!(category = %spelling, "a product arrived as its category was deleted; recreated");
            self.ensure(&spelling).await?;
        }
        Ok(())
    }
}

/// What [`Categories::resolve`] found for a product's category.
#[derive(Debug, PartialEq)]
pub enum Resolved {
    /// No category (`""`).
    None,
    /// The category exists: the product carries its name.
    Existing(Box<CategoryDoc>),
    /// No such category yet: the name as given, trimmed; [`Categories::settle`] creates it once
    /// the product is written.
    New(String),
}

impl Resolved {
    /// The name the product carries.
    pub fn name(&self) -> &str {
        match self {
            Self::None => "",
            Self::Existing(category) => &category.name,
            Self::New(name) => name,
        }
    }
}

/// A random suffix for a slug another category holds: eight hex digits, which nobody can guess
/// ahead to take first.
fn slug_suffix() -> String {
    let mut bytes = [0u8; 4];
    // The operating system's generator does not fail on the platforms this runs on; should it,
    // the clock's nanoseconds still make a suffix that a retry is unlikely to find taken.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos())
            .to_le_bytes();
    }
    format!("{:08x}", u32::from_le_bytes(bytes))
}
