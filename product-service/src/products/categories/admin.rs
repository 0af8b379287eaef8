//! What admins do to categories: create, rename or describe, delete; and the last two steps of a
//! rename, which the upkeep also runs for renames left half done (the protocol is in the module
//! above).

use mongodb::error::Error;

use super::{ATTEMPTS, Categories, CategoryError};
use crate::{
    models::CategoryView,
    store::{CategoryDoc, Inserted, RenameStarted},
};

impl Categories {
    /// Creates a category named `name` (trimmed); [`CategoryError::Exists`] when another has its
    /// name in any case, or its slug.
    pub async fn create(
        &self,
        name: &str,
        description: String,
    ) -> Result<CategoryView, CategoryError> {
        let category = Self::new_category(name, description);
        match self.store.insert(&category).await? {
            Inserted::Stored => {
                tracing::info!(category = %category.name, slug = %category.slug, "category created");
                self.remember(category.clone());
                Ok(self.view_of(&category))
            }
            Inserted::Taken => Err(CategoryError::Exists(self.clash(&category).await?)),
        }
    }

    /// Renames the category at `slug` and/or changes its description; a rename moves every
    /// product in it. [`CategoryError::NotFound`], [`CategoryError::Exists`].
    pub async fn update(
        &self,
        slug: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<CategoryView, CategoryError> {
        let name = name.map(str::trim);
        for _ in 0..ATTEMPTS {
            let current = self.find(slug).await?;
            let Some(name) = name.filter(|name| *name != current.name) else {
                let updated = match description {
                    Some(description) => self
                        .store
                        .set_description(current.id, description)
                        .await?
                        .ok_or(CategoryError::NotFound)?,
                    None => current,
                };
                self.remember(updated.clone());
                return Ok(self.view_of(&updated));
            };
            let wanted = Self::new_category(name, String::new());
            match self
                .store
                .start_rename(&current, name, &wanted.key, &wanted.slug, description)
                .await?
            {
                RenameStarted::Started(renaming) => {
                    tracing::info!(from = %current.name, to = %name, "category rename started");
                    let renaming = *renaming;
                    self.remember(renaming.clone());
                    // Steps 2 and 3 on a task of their own: they finish even if this request is
                    // cut off (its deadline, its client), so they are never left half done.
                    let this = self.clone();
                    let renamed =
                        tokio::spawn(async move { this.finish_rename(renaming).await }).await??;
                    return Ok(self.view_of(&renamed));
                }
                RenameStarted::Taken => {
                    return Err(CategoryError::Exists(self.clash(&wanted).await?));
                }
                RenameStarted::Changed => continue,
            }
        }
        Err(CategoryError::KeptChanging {
            slug: slug.to_owned(),
            doing: "an update",
        })
    }

    /// Deletes the category at `slug`; [`CategoryError::InUse`] while products are in it
    /// (counted in MongoDB), [`CategoryError::NotFound`].
    pub async fn delete(&self, slug: &str) -> Result<(), CategoryError> {
        for _ in 0..ATTEMPTS {
            let current = self.find(slug).await?;
            if self.products.any_in_category(&current.key).await? {
                return Err(CategoryError::InUse { name: current.name });
            }
            if self.store.delete(current.id, &current.key).await? {
                tracing::info!(category = %current.name, "category deleted");
                self.forget(current.id);
                self.after_removal(&current.key).await?;
                return Ok(());
            }
        }
        Err(CategoryError::KeptChanging {
            slug: slug.to_owned(),
            doing: "a delete",
        })
    }

    /// The category answering to `slug`, with any rename in progress finished first.
    async fn find(&self, slug: &str) -> Result<CategoryDoc, CategoryError> {
        let category = self
            .store
            .find_by_slug(slug)
            .await?
            .ok_or(CategoryError::NotFound)?;
        if category.rename.is_some() {
            return Ok(self.finish_rename(category).await?);
        }
        Ok(category)
    }

    /// Steps 2 and 3 of a rename: moves the products still in the old key, then ends the rename.
    /// Returns the category as it then is.
    pub(super) async fn finish_rename(&self, category: CategoryDoc) -> Result<CategoryDoc, Error> {
        let Some(rename) = category.rename.clone() else {
            return Ok(category);
        };
        let moved = self
            .products
            .move_category(&rename.from_key, &category.name, &category.key)
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
}
