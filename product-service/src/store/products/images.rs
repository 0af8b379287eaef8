//! The image reference on a product: set and removed in one conditional update each, which
//! records `product.updated` (the image URL changed), and looked up by file for the sweep (see
//! `crate::products::images` for the protocol).

use std::collections::HashSet;

use common_api::auth::AuthUser;
use common_catalog::{ImageRef, ProductDoc, field, live};
use common_platform::events;
use futures_util::TryStreamExt;
use mongodb::{
    bson::{DateTime, Document, doc, oid::ObjectId},
    error::Error,
};

use super::{ProductStore, owned_by, updated, without_bookkeeping};

impl ProductStore {
    /// Sets `image` as product `id`'s image if `caller` may change it, in one update that returns
    /// the product as it was (with the image it replaced); `None` when nothing matched.
    pub async fn attach_image(
        &self,
        id: ObjectId,
        caller: &AuthUser,
        image: &ImageRef,
    ) -> Result<Option<ProductDoc>, Error> {
        // Changed when the image was uploaded, so the answer built from it is what GET shows.
        let now = image.uploaded_at;
        let image = mongodb::bson::to_bson(image)?;
        let set = doc! { field::IMAGE: image, field::UPDATED_AT: now };
        let before = self
            .products
            .find_one_and_update(
                owned_by(id, caller),
                vec![events::set_literally(set), updated(now)],
            )
            .projection(without_bookkeeping())
            .await?;
        if before.is_some() {
            self.recorded();
        }
        Ok(before)
    }

    /// Removes product `id`'s image reference if `caller` may change it and it has one; returns
    /// the product as it was, or `None` when nothing matched.
    pub async fn detach_image(
        &self,
        id: ObjectId,
        caller: &AuthUser,
    ) -> Result<Option<ProductDoc>, Error> {
        let mut filter = owned_by(id, caller);
        filter.insert(field::IMAGE, doc! { "$exists": true });
        let now = DateTime::now();
        let pipeline = vec![
            events::set_literally(doc! { field::UPDATED_AT: now }),
            doc! { "$unset": [field::IMAGE] },
            updated(now),
        ];
        let before = self
            .products
            .find_one_and_update(filter, pipeline)
            .projection(without_bookkeeping())
            .await?;
        if before.is_some() {
            self.recorded();
        }
        Ok(before)
    }

    /// Which of `files` some product references as its image: one indexed lookup, reading only
    /// the references. A product marked deleted references nothing: its delete discards its
    /// file, and should that fail, the sweep may take it at once.
    pub async fn referenced_images(&self, files: &[ObjectId]) -> Result<HashSet<ObjectId>, Error> {
        let mut filter = live();
        filter.insert(field::IMAGE_FILE_ID, doc! { "$in": files });
        self.products
            .clone_with_type::<Document>()
            .find(filter)
            .projection(doc! { field::IMAGE_FILE_ID: 1 })
            .await?
            .try_filter_map(|product| async move {
                Ok(product
                    .get_document(field::IMAGE)
                    .ok()
                    .and_then(|image| image.get_object_id("file_id").ok()))
            })
            .try_collect()
            .await
    }
}
