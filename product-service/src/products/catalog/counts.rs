//! What `/categories` reads of the read model: the categories products use, with how many, once
//! per version of the model; and a rename's move of every product in a category.

use std::sync::Arc;

use mongodb::bson::oid::ObjectId;

use super::{BULK_THRESHOLD, Catalog, lock};

/// One category key that products use, with how many do; what `GET /categories` counts from.
#[derive(Clone, Debug, PartialEq)]
pub struct CategoryCount {
    /// The category's key (`common_catalog::category_key`).
    pub key: String,
    /// The category's name, as its oldest product spells it.
    pub name: String,
    /// How many products are in it.
    pub product_count: u64,
}

/// The categories products use, sorted by key, at one version of the model.
#[derive(Clone, Debug)]
pub struct CategoryCounts {
    /// The model's version they were counted at: equal versions, equal counts.
    pub version: u64,
    /// Each key in use, with its count.
    pub counts: Arc<Vec<CategoryCount>>,
}

impl Catalog {
    /// Every category key that has products ("" for none is left out), with how many, sorted by
    /// key; named as the oldest product in it spells it.
    pub fn categories(&self) -> CategoryCounts {
        let model = self.read();
        let mut cached = lock(&self.shared.categories);
        if let Some((version, counts)) = cached.as_ref()
            && *version == model.version()
        {
            return CategoryCounts {
                version: *version,
                counts: Arc::clone(counts),
            };
        }
        let mut counts: Vec<CategoryCount> = model
            .category_counts()
            .map(|(key, name, count)| CategoryCount {
                key: key.to_owned(),
                name: name.to_owned(),
                product_count: count as u64,
            })
            .collect();
        counts.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        let counts = Arc::new(counts);
        *cached = Some((model.version(), Arc::clone(&counts)));
        CategoryCounts {
            version: model.version(),
            counts,
        }
    }

    /// Applies a category rename this instance just made in MongoDB: every product in
    /// `from_key` now has the category `name`, whose key is `key`.
    pub fn moved_category(&self, from_key: &str, name: &str, key: &str) {
        let mut model = self.write();
        let Some(category) = model.category(from_key) else {
            return;
        };
        let ids: Vec<ObjectId> = model
            .in_category(category)
            .iter()
            .map(|&slot| model.id(slot))
            .collect();
        let bulk = ids.len() > BULK_THRESHOLD;
        if bulk {
            model.begin_bulk();
        }
        for id in ids {
            if let Some(mut row) = model.row(id) {
                name.clone_into(&mut row.category);
                key.clone_into(&mut row.category_key);
                model.upsert(row);
            }
        }
        if bulk {
            model.end_bulk();
        }
    }
}
