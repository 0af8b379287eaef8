//! The upkeep pass: what a crash, another instance or a hand-made write leaves for the categories
//! to repair (listed in the module above). Every step is safe to run on every instance at once.

use std::{collections::HashSet, time::Duration};

use common_api::time::minus;
use mongodb::{bson::DateTime, error::Error};

use super::Categories;
use crate::products::catalog::CategoryCount;

impl Categories {
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
        let keyed = self.products.fill_missing_category_keys().await?;
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

    /// Removes the implicit categories that the read model counts no product in and that
    /// MongoDB confirms are empty: what a crash between a product's change and
    /// [`Categories::left`] leaves.
    async fn remove_empty_implicit(&self) -> Result<(), Error> {
        let counts = self.catalog.categories();
        let used: HashSet<&str> = counts
            .counts
            .iter()
            .map(|count| count.key.as_str())
            .collect();
        // The documents in memory, which the previous pass reloaded: no query of its own.
        for category in self.memory.implicit_outside(&used) {
            self.remove_if_empty(&category).await?;
        }
        Ok(())
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
            if self.products.any_in_category(&count.key).await?
                && self.ensure(&count.name).await?.is_some()
            {
                adopted += 1;
            }
        }
        Ok(adopted)
    }
}
