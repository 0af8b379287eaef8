//! Categories as managed entities: created, renamed, described and deleted by admins, and created
//! implicitly by a product that names a category that does not exist yet.
//!
//! **Where the truth is.** The `categories` collection ([`store`]) holds each category's name,
//! key (`common::catalog::category_key`: trimmed and lowercased, so names are unique regardless
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
//! **Upkeep**, at startup (before the service listens) and then every `CATALOG_POLL_SECS`:
//! renames left unfinished for [`RENAME_GRACE`] are finished; products without a `category_key`
//! (written by the earlier system or by hand) are given one; every category that products use
//! and that has no document gets one (so databases from before categories were managed, and
//! products written straight into MongoDB, appear with a slug); the documents are reloaded.

mod memory;
pub mod models;
pub(crate) mod routes;
pub mod store;

use std::{collections::HashMap, sync::Arc, time::Duration};

use common::{ApiError, ApiResult, catalog::category_key, server::Shutdown, time::minus};
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
/// The most `-2`, `-3`, … suffixes tried for the slug of a category created implicitly.
const SLUG_SUFFIXES: usize = 100;

/// Categories: the flows that change them, and the list `GET /categories` answers. Cheap to
/// clone.
#[derive(Clone)]
pub struct Categories {
    store: CategoryStore,
    catalog: Catalog,
    memory: Arc<Memory>,
}

impl Categories {
    /// Runs the upkeep once (indexes, unfinished renames, missing documents), loads the
    /// categories, and keeps them current every `poll_interval` until `shutdown`.
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
        categories.upkeep(RENAME_GRACE).await?;
        let background = categories.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.signalled() => return,
                    () = tokio::time::sleep(poll_interval) => {}
                }
                if let Err(err) = background.upkeep(RENAME_GRACE).await {
                    tracing::warn!(error = %err, "category upkeep failed; retrying");
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
            return Ok(Resolved::Existing(String::new()));
        }
        Ok(match self.store.find_by_key(&key).await? {
            Some(category) => Resolved::Existing(category.name),
            None => Resolved::New(name.trim().to_owned()),
        })
    }

    /// Makes sure the category `name` exists, creating it (empty description) if not: what a
    /// product naming a new category does. Its slug gets a `-2`, `-3`, … suffix when another
    /// category has it.
    pub async fn ensure(&self, name: &str) -> Result<(), Error> {
        let name = name.trim();
        let key = category_key(name);
        if key.is_empty() || self.store.find_by_key(&key).await?.is_some() {
            return Ok(());
        }
        let base = slug_of(name);
        for n in 1..=SLUG_SUFFIXES {
            let slug = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let category = CategoryDoc::new(name.to_owned(), key.clone(), slug, String::new());
            match self.store.insert(&category).await? {
                Inserted::Stored => {
                    tracing::info!(category = %name, slug = %category.slug, "category created for a product");
                    self.remember(category);
                    return Ok(());
                }
                // Someone else created it meanwhile: done. Otherwise the slug is taken.
                Inserted::Taken if self.store.find_by_key(&key).await?.is_some() => return Ok(()),
                Inserted::Taken => {}
            }
        }
        tracing::warn!(category = %name, "no free slug for a product's category; it stays unmanaged");
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
            if self.store.has_products(&count.key).await? {
                self.ensure(&count.name).await?;
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
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    /// The category exists (or is "", no category): its name, as the product should carry it.
    Existing(String),
    /// No such category yet: the name as given, trimmed; [`Categories::ensure`] creates it once
    /// the product is written.
    New(String),
}

impl Resolved {
    /// The name the product carries.
    pub fn name(&self) -> &str {
        match self {
            Self::Existing(name) | Self::New(name) => name,
        }
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("CATEGORY_NOT_FOUND", "Category not found")
}
