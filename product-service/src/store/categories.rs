//! The `categories` collection (the moves of products between categories are
//! [`super::ProductStore`]'s).
//!
//! A category document holds its name, its key (`common_catalog::category_key` of the name),
//! its slug and description. `keys` and `slugs` hold the key and slug it answers to: its own,
//! and, while a rename is in progress, also the old ones, so that nobody can take the old name
//! before every product has left it. Unique indexes on `keys` and `slugs` make one category per
//! key and per slug, also under concurrent writes.
//!
//! Writes that can collide with those indexes are `insert_one` and `update_one`, never
//! `find_one_and_*`: MongoDB cuts a long duplicate value in its error message, possibly inside a
//! multi-byte character, and the driver reads that message leniently only in the replies of
//! inserts and updates. A `findAndModify` refused for a duplicate name of about 100 non-ASCII
//! characters would arrive as an unreadable reply instead of a duplicate-key error.

use futures_util::TryStreamExt;
use mongodb::{
    Collection, Database, IndexModel,
    bson::{DateTime, doc, oid::ObjectId},
    error::Error,
    options::{IndexOptions, ReturnDocument},
};
use serde::{Deserialize, Serialize};

/// The name of the collection.
pub const CATEGORIES: &str = "categories";

/// Field names, for filters and updates.
mod field {
    /// The category id.
    pub const ID: &str = "_id";
    /// The name, trimmed.
    pub const NAME: &str = "name";
    /// The key of the name.
    pub const KEY: &str = "key";
    /// The slug.
    pub const SLUG: &str = "slug";
    /// The description.
    pub const DESCRIPTION: &str = "description";
    /// Keys the category answers to (unique across categories).
    pub const KEYS: &str = "keys";
    /// Slugs the category answers to (unique across categories).
    pub const SLUGS: &str = "slugs";
    /// A rename in progress.
    pub const RENAME: &str = "rename";
    /// Whether a product's write created the category (it goes when its last product does).
    pub const IMPLICIT: &str = "implicit";
    /// When the rename in progress started.
    pub const RENAME_STARTED_AT: &str = "rename.started_at";
    /// When it last changed.
    pub const UPDATED_AT: &str = "updated_at";
}

/// A stored category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategoryDoc {
    /// The category id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The name as given, trimmed.
    pub name: String,
    /// `category_key(name)`: what products' `category_key` holds.
    pub key: String,
    /// The slug, unique.
    pub slug: String,
    /// The description.
    #[serde(default)]
    pub description: String,
    /// `[key]`, plus the old key while a rename is in progress.
    pub keys: Vec<String>,
    /// `[slug]`, plus the old slug while a rename is in progress.
    pub slugs: Vec<String>,
    /// The rename in progress, if any: products may still carry the old name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rename: Option<PendingRename>,
    /// Created by a product naming a category that did not exist, rather than by an admin: it is
    /// removed when its last product leaves it. An admin's change to it makes it an admin's.
    /// Absent (false) in documents from before this was recorded, which therefore stay.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub implicit: bool,
    /// When it was created.
    pub created_at: DateTime,
    /// When it last changed.
    pub updated_at: DateTime,
}

impl CategoryDoc {
    /// A new category made by an admin, not yet stored.
    pub fn new(name: String, key: String, slug: String, description: String) -> Self {
        let now = DateTime::now();
        Self {
            id: ObjectId::new(),
            keys: vec![key.clone()],
            slugs: vec![slug.clone()],
            name,
            key,
            slug,
            description,
            rename: None,
            implicit: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// A new category for a product that names it, not yet stored.
    pub fn implicit(name: String, key: String, slug: String) -> Self {
        Self {
            implicit: true,
            ..Self::new(name, key, slug, String::new())
        }
    }

    /// This category with another slug, for a second try at storing it.
    pub fn with_slug(self, slug: String) -> Self {
        Self {
            slugs: vec![slug.clone()],
            slug,
            ..self
        }
    }

    /// Whether a product carrying `name` and `key` is in this category as it now is.
    pub fn holds(&self, name: &str, key: &str) -> bool {
        self.key == key && self.name == name
    }
}

/// A rename that has been recorded but whose products may not all have moved yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingRename {
    /// The old name.
    pub from_name: String,
    /// The old key: products still carrying it are moved.
    pub from_key: String,
    /// The old slug.
    pub from_slug: String,
    /// When the rename started.
    pub started_at: DateTime,
}

/// What inserting a category came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Inserted {
    /// It is stored.
    Stored,
    /// Another category already has its key or its slug.
    Taken,
}

/// What recording a rename came to.
#[derive(Debug)]
pub enum RenameStarted {
    /// Recorded; the document as it now is, with its [`PendingRename`].
    Started(Box<CategoryDoc>),
    /// Another category already has the new key or slug; nothing changed.
    Taken,
    /// The category changed or went away since it was read; nothing changed.
    Changed,
}

/// Reads and writes categories. Cheap to clone.
#[derive(Clone)]
pub struct CategoryStore {
    categories: Collection<CategoryDoc>,
}

impl CategoryStore {
    /// The store over `db.categories`.
    pub fn new(db: &Database) -> Self {
        Self {
            categories: db.collection(CATEGORIES),
        }
    }

    /// Creates the unique indexes on keys and slugs (no-ops when they exist).
    pub async fn ensure_indexes(&self) -> Result<(), Error> {
        let unique = |field: &str, name: &str| {
            IndexModel::builder()
                .keys(doc! { field: 1 })
                .options(
                    IndexOptions::builder()
                        .unique(true)
                        .name(name.to_owned())
                        .build(),
                )
                .build()
        };
        self.categories
            .create_indexes([
                unique(field::KEYS, "key_unique"),
                unique(field::SLUGS, "slug_unique"),
            ])
            .await?;
        Ok(())
    }

    /// Every category.
    pub async fn all(&self) -> Result<Vec<CategoryDoc>, Error> {
        self.categories.find(doc! {}).await?.try_collect().await
    }

    /// Stores a new category, unless its key or slug is taken.
    pub async fn insert(&self, category: &CategoryDoc) -> Result<Inserted, Error> {
        match self.categories.insert_one(category).await {
            Ok(_) => Ok(Inserted::Stored),
            Err(err) if common_platform::db::is_duplicate_key(&err) => Ok(Inserted::Taken),
            Err(err) => Err(err),
        }
    }

    /// The category answering to `slug` (its own, or its old one during a rename).
    pub async fn find_by_slug(&self, slug: &str) -> Result<Option<CategoryDoc>, Error> {
        self.categories.find_one(doc! { field::SLUGS: slug }).await
    }

    /// The category answering to `key` (its own, or its old one during a rename).
    pub async fn find_by_key(&self, key: &str) -> Result<Option<CategoryDoc>, Error> {
        self.categories.find_one(doc! { field::KEYS: key }).await
    }

    /// The category `id`.
    pub async fn find(&self, id: ObjectId) -> Result<Option<CategoryDoc>, Error> {
        self.categories.find_one(doc! { field::ID: id }).await
    }

    /// Sets the description of category `id` (an admin's change: the category is an admin's
    /// from now on); `None` if it is gone.
    pub async fn set_description(
        &self,
        id: ObjectId,
        description: &str,
    ) -> Result<Option<CategoryDoc>, Error> {
        self.categories
            .find_one_and_update(
                doc! { field::ID: id },
                doc! {
                    "$set": {
                        field::DESCRIPTION: description,
                        field::UPDATED_AT: DateTime::now(),
                    },
                    "$unset": { field::IMPLICIT: "" },
                },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    /// Records the rename of `current` to `name` (with its `key` and `slug`), and a new
    /// `description` if given, in one conditional update: only if `current` has not changed
    /// its key and has no rename in progress. The old key and slug stay reserved until
    /// [`CategoryStore::finish_rename`].
    pub async fn start_rename(
        &self,
        current: &CategoryDoc,
        name: &str,
        key: &str,
        slug: &str,
        description: Option<&str>,
    ) -> Result<RenameStarted, Error> {
        let now = DateTime::now();
        let mut keys = vec![key.to_owned()];
        if current.key != key {
            keys.push(current.key.clone());
        }
        let mut slugs = vec![slug.to_owned()];
        if current.slug != slug {
            slugs.push(current.slug.clone());
        }
        let rename = PendingRename {
            from_name: current.name.clone(),
            from_key: current.key.clone(),
            from_slug: current.slug.clone(),
            started_at: now,
        };
        let mut set = doc! {
            field::NAME: name,
            field::KEY: key,
            field::SLUG: slug,
            field::KEYS: keys,
            field::SLUGS: slugs,
            field::RENAME: mongodb::bson::to_bson(&rename)?,
            field::UPDATED_AT: now,
        };
        if let Some(description) = description {
            set.insert(field::DESCRIPTION, description);
        }
        let filter = doc! {
            field::ID: current.id,
            field::KEY: &current.key,
            field::RENAME: { "$exists": false },
        };
        // An update, not a findAndModify: see the module's note on duplicate-key errors.
        let update = doc! { "$set": set, "$unset": { field::IMPLICIT: "" } };
        match self.categories.update_one(filter, update).await {
            Ok(result) if result.matched_count == 1 => Ok(match self.find(current.id).await? {
                Some(renamed) => RenameStarted::Started(Box::new(renamed)),
                None => RenameStarted::Changed,
            }),
            Ok(_) => Ok(RenameStarted::Changed),
            Err(err) if common_platform::db::is_duplicate_key(&err) => Ok(RenameStarted::Taken),
            Err(err) => Err(err),
        }
    }

    /// Deletes category `id` if a product created it, its key is still `key` and no rename is in
    /// progress; `false` otherwise.
    pub async fn delete_implicit(&self, id: ObjectId, key: &str) -> Result<bool, Error> {
        let result = self
            .categories
            .delete_one(doc! {
                field::ID: id,
                field::KEY: key,
                field::IMPLICIT: true,
                field::RENAME: { "$exists": false },
            })
            .await?;
        Ok(result.deleted_count == 1)
    }

    /// Ends the rename of category `id` that started at `started_at`: the old key and slug are
    /// released. `None` if that rename is no longer in progress (someone else finished it).
    pub async fn finish_rename(
        &self,
        id: ObjectId,
        started_at: DateTime,
        key: &str,
        slug: &str,
    ) -> Result<Option<CategoryDoc>, Error> {
        self.categories
            .find_one_and_update(
                doc! { field::ID: id, field::RENAME_STARTED_AT: started_at },
                doc! {
                    "$set": { field::KEYS: [key], field::SLUGS: [slug] },
                    "$unset": { field::RENAME: "" },
                },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    /// Categories whose rename started before `before` and is not finished.
    pub async fn renames_started_before(
        &self,
        before: DateTime,
    ) -> Result<Vec<CategoryDoc>, Error> {
        self.categories
            .find(doc! { field::RENAME_STARTED_AT: { "$lt": before } })
            .await?
            .try_collect()
            .await
    }

    /// Deletes category `id` if its key is still `key` and no rename is in progress; `false`
    /// otherwise.
    pub async fn delete(&self, id: ObjectId, key: &str) -> Result<bool, Error> {
        let result = self
            .categories
            .delete_one(doc! {
                field::ID: id,
                field::KEY: key,
                field::RENAME: { "$exists": false },
            })
            .await?;
        Ok(result.deleted_count == 1)
    }
}
