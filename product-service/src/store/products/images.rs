//! The image reference on a product: set and removed in one conditional update each, and looked
//! up by file for the sweep (see `crate::products::images` for the protocol).

use std::collections::HashSet;

use common_api::auth::AuthUser;
use common_catalog::{ImageRef, ProductDoc, field};
use futures_util::TryStreamExt;
use mongodb::{
    bson::{DateTime, Document, doc, oid::ObjectId},
    error::Error,
};

use super::{ProductStore, owned_by, without_bookkeeping};

impl ProductStore {
    /// Sets `image` as product `id`'s image if `caller` may change it, in one update that returns
    /// the product as it was (with the image it replaced); `None` when nothing matched.
    pub async fn attach_image(
        &self,
        id: ObjectId,
        caller: &AuthUser,
        image: &ImageRef,
    ) -> Result<Option<ProductDoc>, Error> {
        let image = mongodb::bson::to_bson(image)?;
        self.products
            .find_one_and_update(
                owned_by(id, caller),
                doc! { "$set": { field::IMAGE: image, field::UPDATED_AT: DateTime::now() } },
            )
            .projection(without_bookkeeping())
            .await
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
        self.products
            .find_one_and_update(
                filter,
                doc! {
                    "$unset": { field::IMAGE: "" },
                    "$set": { field::UPDATED_AT: DateTime::now() },
                },
            )
            .projection(without_bookkeeping())
            .await
    }

    /// Which of `files` some product references as its image: one indexed lookup, reading only
    /// the references.
    pub async fn referenced_images(&self, files: &[ObjectId]) -> Result<HashSet<ObjectId>, Error> {
        self.products
            .clone_with_type::<Document>()
            .find(doc! { field::IMAGE_FILE_ID: { "$in": files } })
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
