//! Categories as managed entities: created, renamed, described and deleted by admins, and created
//! implicitly by a product that names a category that does not exist yet.
//!
//! **Where the truth is.** The `categories` collection ([`CategoryStore`]) holds each category's
//! name, key (`common_catalog::category_key`: trimmed and lowercased, so names are unique
//! regardless of case), slug and description; products carry the category's name and key.
//! `GET /categories` is answered from memory: the category documents kept here, and the product
//! counts of the catalog read model ([`super::catalog`]), combined once per version of either and
//! cached.
//!
//! **How stale it may be.** This instance's own category writes are applied at once. Every
//! instance reloads the collection every `CATALOG_POLL_SECS` (default 5 s), so a category
//! created, renamed or deleted through another instance shows here within that; its products'
//! counts follow the catalog's own feed (a change stream: milliseconds). A category that products
//! use but that has no document yet here (another instance just created it, or products were
//! written straight into MongoDB) is still listed, named by its oldest product, with an empty
//! description, until the upkeep below gives it a document.
//!
//! **Renames** (`admin`). A rename must apply to every product, also when it is interrupted,
//! without transactions (a standalone server has none): (1) one conditional update records the
//! new name on the category with the old one in `rename`, keeping the old key and slug reserved
//! (unique indexes refuse a name or slug another category holds: 409); (2) `update_many` moves
//! every product still carrying the old key; (3) the `rename` marker is removed, releasing the
//! old key and slug. Steps 2 and 3 run on a task of their own, so a request cut off by its
//! deadline or its client leaves them running. Each step is idempotent; a rename left half done
//! (a crash) is finished by the next request that touches the category (a retry of the same
//! `PATCH`, by its old or new slug), or by the upkeep pass. A product written under the old name
//! while a rename is in progress gets the new name.
//!
//! **Products racing a rename or a delete** (`settle`). A product write looks its category up,
//! then writes the product; a rename or delete may run in between. So after every product write
//! (each made by [`super::Products`], which takes these steps itself), [`Categories::settle`]
//! reads the category again by id: if it was renamed (even if its pass over the products has
//! already run), the product follows it in one conditional update; if it was deleted (its count
//! saw no product), the product's write came after the delete, and it creates the category anew,
//! as any product naming a missing category does. A category is only ever judged after the
//! product is stored, so a rename or delete that starts later sees the product.
//!
//! **Categories that products create** (`implicit`) are removed when their last product leaves
//! them (a change of category, a delete); an admin's categories stay until an admin deletes them,
//! and an admin's change to an implicit category makes it an admin's. After such a removal, and
//! after an admin's delete, one more count catches a product written between the count and the
//! delete, which then gets its category back. A new category whose slug another category holds
//! gets a random suffix in one step (`home-garden-3f2a9c1e`), never a search for a free number.
//!
//! **Upkeep** (`upkeep`), in the background from startup on (the service does not wait for it)
//! and then every `CATALOG_POLL_SECS`: renames left unfinished for [`RENAME_GRACE`] are finished;
//! products without a `category_key` (written by the earlier system or by hand) are given one;
//! every category that products use and that has no document gets one (so databases from before
//! categories were managed, and products written straight into MongoDB, appear with a slug);
//! implicit categories left empty (by a crash between a product's change and the removal) are
//! removed; the documents are reloaded.

mod admin;
mod memory;
mod settle;
pub mod slug;
mod upkeep;

use std::{collections::HashMap, sync::Arc, time::Duration};

use common_platform::server::Shutdown;
use mongodb::{bson::oid::ObjectId, error::Error};

pub use self::settle::Resolved;
use self::{memory::Memory, slug::slug_of};
use super::catalog::Catalog;
use crate::{
    models::CategoryView,
    store::{CategoryDoc, CategoryStore, ProductStore},
};

/// How old an unfinished rename must be before the upkeep pass finishes it: long enough that the
/// request that started it has finished or given up (its steps run for a few seconds at most).
pub const RENAME_GRACE: Duration = Duration::from_secs(60);
/// How often a write is retried when the category changed under it.
const ATTEMPTS: usize = 5;

/// Why a change to a category was refused, or did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CategoryError {
    /// No category answers to the slug.
    #[error("no such category")]
    NotFound,
    /// Another category has the name (in any case) or the slug asked for.
    #[error("the category's name or slug is taken")]
    Exists(Clash),
    /// Products are still in the category `name`.
    #[error("category {name} still has products")]
    InUse {
        /// The category's name.
        name: String,
    },
    /// The category kept changing under the write, attempt after attempt.
    #[error("category {slug} kept changing during {doing}")]
    KeptChanging {
        /// The slug asked for.
        slug: String,
        /// What was being done (`an update`, `a delete`).
        doing: &'static str,
    },
    /// The task that finishes a rename failed.
    #[error("the rename did not finish: {0}")]
    Rename(#[from] tokio::task::JoinError),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] Error),
}

/// What another category already holds of what a write asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Clash {
    /// Its key: it is `existing`, the same name in some case.
    Name {
        /// The other category's name.
        existing: String,
    },
    /// Only the slug `slug` of the name `name`.
    Slug {
        /// The slug.
        slug: String,
        /// The name asked for.
        name: String,
    },
}

/// Categories: the flows that change them, and the list `GET /categories` answers. Cheap to
/// clone.
#[derive(Clone)]
pub struct Categories {
    store: CategoryStore,
    products: ProductStore,
    catalog: Catalog,
    memory: Arc<Memory>,
}

impl Categories {
    /// Loads the categories, then runs the upkeep in the background at once and every
    /// `poll_interval` until `shutdown`: however much it has to do, the service does not wait for
    /// it to start listening. `products` are the products whose categories these are, `catalog`
    /// their read model.
    pub async fn start(
        store: CategoryStore,
        products: ProductStore,
        catalog: Catalog,
        poll_interval: Duration,
        mut shutdown: Shutdown,
    ) -> Result<Self, Error> {
        let categories = Self {
            store,
            products,
            catalog,
            memory: Arc::default(),
        };
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

    /// Every category, sorted by key (the name trimmed and lowercased, compared by code point),
    /// with its product count.
    pub fn list(&self) -> Arc<Vec<CategoryView>> {
        self.memory.list(&self.catalog.categories())
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
        memory::view(category, product_count)
    }

    /// What another category holds of `wanted`'s key or slug.
    async fn clash(&self, wanted: &CategoryDoc) -> Result<Clash, Error> {
        Ok(match self.store.find_by_key(&wanted.key).await? {
            Some(other) => Clash::Name {
                existing: other.name,
            },
            None => Clash::Slug {
                slug: wanted.slug.clone(),
                name: wanted.name.clone(),
            },
        })
    }

    /// A new category, made by an admin, named `name` (trimmed).
    fn new_category(name: &str, description: String) -> CategoryDoc {
        let name = name.trim();
        CategoryDoc::new(
            name.to_owned(),
            common_catalog::category_key(name),
            slug_of(name),
            description,
        )
    }
}
