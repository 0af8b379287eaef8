//! Categories as managed entities: created, renamed, described and deleted by admins, and created
//! implicitly by a product that names a category that does not exist yet.
//!
//! **Where the truth is.** The `categories` collection ([`store`]) holds each category's name,
//! key (`common_catalog::category_key`: trimmed and lowercased, so names are unique regardless
//! of case), slug and description; products carry the category's name and key. `GET /categories`
//! is answered from memory: the category documents kept here, and the product counts of the
//! catalog read model ([`crate::catalog`]), combined once per version of either and cached.
//!
//! **How stale it may be.** This instance's own category writes are applied at once. Every
//! instance reloads the collection every `CATALOG_POLL_SECS` (default 5 s), so a category
//! created, renamed or deleted through another instance shows here within that; its products'
//! counts follow the catalog's own feed (a change stream: milliseconds). A category that products
//! use but that has no document yet here (another instance just created it, or products were
//! written straight into MongoDB) is still listed, named by its oldest product, with an empty
//! description, until the upkeep below gives it a document.
//!
//! **Renames.** A rename must apply to every product, also when it is interrupted, without
//! transactions (a standalone server has none): (1) one conditional update records the new name
//! on the category with the old one in `rename`, keeping the old key and slug reserved (unique
//! indexes refuse a name or slug another category holds: 409); (2) `update_many` moves every
//! product still carrying the old key; (3) the `rename` marker is removed, releasing the old key
//! and slug. Steps 2 and 3 run on a task of their own, so a request cut off by its deadline or
//! its client leaves them running. Each step is idempotent; a rename left half done (a crash) is
//! finished by the next request that touches the category (a retry of the same `PATCH`, by its
//! old or new slug), or by the upkeep pass. A product written under the old name while a rename
//! is in progress gets the new name.
//!
//! **Products racing a rename or a delete.** A product write looks its category up, then writes
//! the product; a rename or delete may run in between. So after every product write,
//! [`Categories::settle`] reads the category again by id: if it was renamed (even if its pass over
//! the products has already run), the product follows it in one conditional update; if it was
//! deleted (its count saw no product), the product's write came after the delete, and it creates
//! the category anew, as any product naming a missing category does. A category is only ever
//! judged after the product is stored, so a rename or delete that starts later sees the product.
//!
//! **Categories that products create** (`implicit`) are removed when their last product leaves
//! them (a change of category, a delete); an admin's categories stay until an admin deletes them,
//! and an admin's change to an implicit category makes it an admin's. After such a removal, and
//! after an admin's delete, one more count catches a product written between the count and the
//! delete, which then gets its category back. A new category whose slug another category holds
//! gets a random suffix in one step (`home-garden-3f2a9c1e`), never a search for a free number.
//!
//! **Upkeep**, in the background from startup on (the service does not wait for it) and then
//! every `CATALOG_POLL_SECS`: renames left unfinished for [`RENAME_GRACE`] are finished; products
//! without a `category_key` (written by the earlier system or by hand) are given one; every
//! category that products use and that has no document gets one (so databases from before
//! categories were managed, and products written straight into MongoDB, appear with a slug);
//! implicit categories left empty (by a crash between a product's change and the removal) are
//! removed; the documents are reloaded.

mod memory;
pub mod models;
pub(crate) mod routes;
pub mod store;

use std::{collections::HashMap, sync::Arc, time::Duration};

use common_api::{ApiError, ApiResult, time::minus};
use common_catalog::{ProductDoc, category_key};
use common_platform::server::Shutdown;
use mongodb::{
    Database,
    bson::{DateTime, oid::ObjectId},
    error::Error,
};

use self::{
    memory::{Memory, view},
    models::{CategoryView, slug_of},
    store::{CategoryDoc, CategoryStore, Inserted, RenameStarted},
};
use crate::catalog::{Catalog, CategoryCount};

/// How old an unfinished rename must be before the upkeep pass finishes it: long enough that the
/// request that started it has finished or given up (its steps run for a few seconds at most).
pub const RENAME_GRACE: Duration = Duration::from_secs(60);
/// How often a write is retried when the category changed under it.
const ATTEMPTS: usize = 5;
/// How many random slug suffixes are tried for a category created implicitly whose slug is
/// taken: one is enough but for a one-in-four-billion chance.
const SLUG_SUFFIXES: usize = 3;

/// Categories: the flows that change them, and the list `GET /categories` answers. Cheap to
/// clone.
#[derive(Clone)]
pub struct Categories {
    store: CategoryStore,
    catalog: Catalog,
    memory: Arc<Memory>,
}

impl Categories {
    /// Creates the indexes and loads the categories, then runs the upkeep in the background at
    /// once and every `poll_interval` until `shutdown`: however much it has to do, the service
    /// does not wait for it to start listening.
    pub async fn start(
        db: &Database,
        catalog: Catalog,
        poll_interval: Duration,
        mut shutdown: Shutdown,
    ) -> Result<Self, Error> {
        let categories = Self {
            store: CategoryStore::new(db),
            catalog,
            memory: Arc::default(),
        };
        categories.store.ensure_indexes().await?;
        categories.reload().await?;
        let background = categories.clone();
        tokio::spawn(async move {
            loop {
                if let Err(err) = background.upkeep(RENAME_GRACE).await {
                    tracing::warn!(error = %err, "category upkeep failed; retrying");
                }
                tokio::select! {
                    () = shutdown.signalled() => return,
                    () = tokio::time::sleep(poll_interval) => {}
                }
            }
        });
        Ok(categories)
    }

    /// Finishes renames unfinished for longer than `grace`, gives a document to every category
    /// products use that has none, and reloads the documents.
    pub async fn upkeep(&self, grace: Duration) -> Result<(), Error> {
        for category in self
            .store
            .renames_started_before(minus(DateTime::now(), grace))
            .await?
        {
            tracing::info!(category = %category.name, "finishing an interrupted category rename");
            self.finish_rename(category).await?;
        }
        let keyed = self.store.fill_missing_keys().await?;
        if keyed > 0 {
            tracing::info!(keyed, "products without a category key were given one");
        }
        self.remove_empty_implicit().await?;
        self.reload().await?;
        let adopted = self.adopt_unmanaged().await?;
        if adopted > 0 {
            tracing::info!(adopted, "categories used by products were given documents");
            self.reload().await?;
        }
        Ok(())
    }

    /// Every category, sorted by key (the name trimmed and lowercased, compared by code point),
    /// with its product count.
    pub fn list(&self) -> Arc<Vec<CategoryView>> {
        self.memory.list(&self.catalog.categories())
    }

    /// Creates a category named `name` (trimmed); 409 `CATEGORY_EXISTS` when another has its
    /// name in any case, or its slug.
    pub async fn create(&self, name: &str, description: String) -> ApiResult<CategoryView> {
        let name = name.trim();
        let key = category_key(name);
        let category = CategoryDoc::new(name.to_owned(), key, slug_of(name), description);
        match self.store.insert(&category).await? {
            Inserted::Stored => {
                tracing::info!(category = %category.name, slug = %category.slug, "category created");
                self.remember(category.clone());
                Ok(self.view_of(&category))
            }
            Inserted::Taken => Err(self.exists(&category).await?),
        }
    }

    /// Renames the category at `slug` and/or changes its description; a rename moves every
    /// product in it. 404 `CATEGORY_NOT_FOUND`, 409 `CATEGORY_EXISTS`.
    pub async fn update(
        &self,
        slug: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> ApiResult<CategoryView> {
        let name = name.map(str::trim);
        for _ in 0..ATTEMPTS {
            let current = self.find(slug).await?;
            let Some(name) = name.filter(|name| *name != current.name) else {
                let updated = match description {
                    Some(description) => self
                        .store
                        .set_description(current.id, description)
                        .await?
                        .ok_or_else(not_found)?,
                    None => current,
                };
                self.remember(updated.clone());
                return Ok(self.view_of(&updated));
            };
            let (key, new_slug) = (category_key(name), slug_of(name));
            match self
                .store
                .start_rename(&current, name, &key, &new_slug, description)
                .await?
            {
                RenameStarted::Started(renaming) => {
                    tracing::info!(from = %current.name, to = %name, "category rename started");
                    let renaming = *renaming;
                    self.remember(renaming.clone());
                    // Steps 2 and 3 on a task of their own: they finish even if this request is
                    // cut off (its deadline, its client), so they are never left half done.
                    let this = self.clone();
                    let renamed = tokio::spawn(async move { this.finish_rename(renaming).await })
                        .await
                        .map_err(ApiError::internal)??;
                    return Ok(self.view_of(&renamed));
                }
                RenameStarted::Taken => {
                    let wanted = CategoryDoc::new(name.to_owned(), key, new_slug, String::new());
                    return Err(self.exists(&wanted).await?);
                }
                RenameStarted::Changed => continue,
            }
        }
        Err(ApiError::internal(anyhow::anyhow!(
            "category {slug} kept changing during an update"
        )))
    }

    /// Deletes the category at `slug`; 409 `CATEGORY_IN_USE` while products are in it (counted
    /// in MongoDB), 404 `CATEGORY_NOT_FOUND`.
    pub async fn delete(&self, slug: &str) -> ApiResult<()> {
        for _ in 0..ATTEMPTS {
            let current = self.find(slug).await?;
            if self.store.has_products(&current.key).await? {
                return Err(ApiError::conflict(
                    "CATEGORY_IN_USE",
                    format!(
                        "Category {} still has products; move or delete them first",
                        current.name
                    ),
                ));
            }
            if self.store.delete(current.id, &current.key).await? {
                tracing::info!(category = %current.name, "category deleted");
                self.forget(current.id);
                self.after_removal(&current.key).await?;
                return Ok(());
            }
        }
        Err(ApiError::internal(anyhow::anyhow!(
            "category {slug} kept changing during a delete"
        )))
    }

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
                .store
                .move_product(product.id, &key, &category.name, &category.key)
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
    async fn remove_if_empty(&self, category: &CategoryDoc) -> Result<(), Error> {
        if self.store.has_products(&category.key).await? {
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
    async fn after_removal(&self, key: &str) -> Result<(), Error> {
        if let Some(spelling) = self.store.spelling_in_use(key).await? {
            tracing::info!(category = %spelling, "a product arrived as its category was deleted; recreated");
            self.ensure(&spelling).await?;
        }
        Ok(())
    }

    /// Removes the implicit categories that the read model counts no product in and that
    /// MongoDB confirms are empty: what a crash between a product's change and
    /// [`Categories::left`] leaves.
    async fn remove_empty_implicit(&self) -> Result<(), Error> {
        let counts = self.catalog.categories();
        let used: std::collections::HashSet<&str> = counts
            .counts
            .iter()
            .map(|count| count.key.as_str())
            .collect();
        for category in self.store.implicit_outside(&used).await? {
            self.remove_if_empty(&category).await?;
        }
        Ok(())
    }

    /// Steps 2 and 3 of a rename: moves the products still in the old key, then ends the rename.
    /// Returns the category as it then is.
    async fn finish_rename(&self, category: CategoryDoc) -> Result<CategoryDoc, Error> {
        let Some(rename) = category.rename.clone() else {
            return Ok(category);
        };
        let moved = self
            .store
            .move_products(&rename.from_key, &category.name, &category.key)
            .await?;
        self.catalog
            .moved_category(&rename.from_key, &category.name, &category.key);
        let finished = match self
            .store
            .finish_rename(
                category.id,
                rename.started_at,
                &category.key,
                &category.slug,
            )
            .await?
        {
            Some(finished) => finished,
            // Finished by someone else, and perhaps changed since: as it now is.
            None => match self.store.find(category.id).await? {
                Some(current) => current,
                None => {
                    self.forget(category.id);
                    return Ok(category);
                }
            },
        };
        tracing::info!(from = %rename.from_name, to = %finished.name, moved, "category renamed");
        self.remember(finished.clone());
        Ok(finished)
    }

    /// The category answering to `slug`, with any rename in progress finished first.
    async fn find(&self, slug: &str) -> ApiResult<CategoryDoc> {
        let category = self.store.find_by_slug(slug).await?.ok_or_else(not_found)?;
        if category.rename.is_some() {
            return Ok(self.finish_rename(category).await?);
        }
        Ok(category)
    }

    /// Gives a document to each category key the catalog holds products in but no category
    /// answers to, after checking in MongoDB that products still use it. Returns how many.
    async fn adopt_unmanaged(&self) -> Result<usize, Error> {
        let managed = self.memory.managed_keys();
        let unmanaged: Vec<CategoryCount> = self
            .catalog
            .categories()
            .counts
            .iter()
            .filter(|count| !managed.contains(&count.key))
            .cloned()
            .collect();
        let mut adopted = 0;
        for count in unmanaged {
            if self.store.has_products(&count.key).await?
                && self.ensure(&count.name).await?.is_some()
            {
                adopted += 1;
            }
        }
        Ok(adopted)
    }

    /// Replaces the documents in memory with the collection's.
    async fn reload(&self) -> Result<(), Error> {
        let loaded: HashMap<ObjectId, CategoryDoc> = self
            .store
            .all()
            .await?
            .into_iter()
            .map(|doc| (doc.id, doc))
            .collect();
        self.memory.replace(loaded);
        Ok(())
    }

    fn remember(&self, category: CategoryDoc) {
        self.memory.remember(category);
    }

    fn forget(&self, id: ObjectId) {
        self.memory.forget(id);
    }

    /// `category` with its product count from the catalog.
    fn view_of(&self, category: &CategoryDoc) -> CategoryView {
        let counts = self.catalog.categories();
        let product_count = counts
            .counts
            .iter()
            .filter(|count| category.keys.contains(&count.key))
            .map(|count| count.product_count)
            .sum();
        view(category, product_count)
    }

    /// The 409 for `wanted`, whose key or slug another category holds.
    async fn exists(&self, wanted: &CategoryDoc) -> Result<ApiError, Error> {
        let detail = match self.store.find_by_key(&wanted.key).await? {
            Some(other) => format!("Category {} already exists", other.name),
            None => format!(
                "Another category already has the slug {} of {}",
                wanted.slug, wanted.name
            ),
        };
        Ok(ApiError::conflict("CATEGORY_EXISTS", detail))
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

fn not_found() -> ApiError {
    ApiError::not_found("CATEGORY_NOT_FOUND", "Category not found")
}
