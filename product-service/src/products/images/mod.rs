//! Product images: the bytes in GridFS ([`ImageFiles`]), a reference on the product document
//! ([`ImageRef`]).
//!
//! **Replacing without orphans.** An upload writes the new file first, then swaps the product's
//! reference in one conditional update that returns the old one, then deletes the old file. A
//! reader therefore always finds a complete file behind the reference it reads. A crash (or a
//! database error) between the steps can leave a file that no product references: the new one
//! when the swap never happened, the old one when its delete did not. Deleting a product deletes
//! its file after the product, with the same window.
//!
//! **The sweep** ([`sweep`]) removes such files, and the chunks of uploads cut off midway; it
//! runs when the service starts and every [`SWEEP_INTERVAL`].
//!
//! **Uploads at once.** Each upload holds up to 2 MiB in memory until it is stored, so at most
//! [`DEFAULT_CONCURRENT_UPLOADS`] (`MAX_CONCURRENT_UPLOADS`) are received at a time; one more is
//! refused ([`ImageError::Busy`], 503 `OVERLOADED` with `Retry-After`) before its body is read.

mod format;
pub mod sweep;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use common_api::auth::AuthUser;
use common_catalog::{ImageRef, ProductDoc};
use mongodb::{
    bson::{DateTime, oid::ObjectId},
    error::Error,
    gridfs::GridFsDownloadStream,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use self::{
    format::{ImageFormat, etag, image_url, version},
    sweep::{SWEEP_INTERVAL, Swept},
};
use super::{ProductError, explain_no_match};
use crate::store::{ImageFiles, ProductStore};

/// The largest image accepted, in bytes (2 MiB).
pub const MAX_IMAGE_BYTES: usize = 2 * 1024 * 1024;

/// How many uploads are received at once unless `MAX_CONCURRENT_UPLOADS` says otherwise: 16 at
/// 2 MiB each keep uploads within 32 MiB (and their copies on the way to MongoDB) of a service
/// whose memory limit is 512 MiB.
pub const DEFAULT_CONCURRENT_UPLOADS: usize = 16;

/// How old an unreferenced file must be before the sweep deletes it: five minutes, or twice the
/// request timeout if that is longer, since an upload's swap happens within its request.
pub fn orphan_age(request_timeout: Duration) -> Duration {
    (request_timeout * 2).max(Duration::from_secs(5 * 60))
}

/// Why an image was not stored, served or removed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The product is gone or not the caller's.
    #[error(transparent)]
    Product(#[from] ProductError),
    /// The product has no image.
    #[error("the product has no image")]
    NoImage,
    /// As many uploads as are received at once are under way.
    #[error("every upload slot is taken")]
    Busy,
    /// The body is empty.
    #[error("the image is empty")]
    Empty,
    /// The bytes are not of the declared format.
    #[error("the bytes are not a {0:?} image")]
    NotOfFormat(ImageFormat),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] Error),
}

/// A slot to receive one upload in, held until the upload is stored: it bounds how many bodies
/// are in memory at once.
pub struct UploadSlot(#[expect(dead_code, reason = "held, never read")] OwnedSemaphorePermit);

/// An image as [`Images::read`] found it.
pub enum ImageRead {
    /// The client holds the current image already (its `If-None-Match`): no bytes.
    Held(ImageRef),
    /// The current image and its bytes.
    Bytes(ImageRef, Box<GridFsDownloadStream>),
}

/// Products' images: upload, serve, remove, and the sweep. Cheap to clone; clones share the
/// upload slots.
#[derive(Clone)]
pub struct Images {
    files: ImageFiles,
    products: ProductStore,
    /// One permit per upload being received.
    uploads: Arc<Semaphore>,
    /// The cutoff of the last sweep of chunks without a file: the next one starts there.
    chunks_swept_until: Arc<Mutex<Option<DateTime>>>,
}

impl Images {
    /// The images of `products`, stored in `files`, receiving at most `concurrent_uploads` (at
    /// least one) uploads at once.
    pub fn new(files: ImageFiles, products: ProductStore, concurrent_uploads: usize) -> Self {
        Self {
            files,
            products,
            uploads: Arc::new(Semaphore::new(concurrent_uploads.max(1))),
            chunks_swept_until: Arc::default(),
        }
    }

    /// [`ProductError::NotFound`] or [`ProductError::NotOwner`] unless `caller` may change product
    /// `id`'s image: checked before an upload's body is received, and again by its swap.
    pub async fn check_owner(&self, id: ObjectId, caller: &AuthUser) -> Result<(), ImageError> {
        explain_no_match(&self.products, id, caller).await?;
        Ok(())
    }

    /// A slot to receive one upload in; [`ImageError::Busy`] when every slot is taken.
    pub fn upload_slot(&self) -> Result<UploadSlot, ImageError> {
        Arc::clone(&self.uploads)
            .try_acquire_owned()
            .map(UploadSlot)
            .map_err(|_| ImageError::Busy)
    }

    /// Sets or replaces product `id`'s image with `bytes`, which must be a file of `format`, if
    /// `caller` may; returns the product with its new image. Holds `_slot` until then.
    pub async fn set(
        &self,
        _slot: UploadSlot,
        id: ObjectId,
        caller: &AuthUser,
        format: ImageFormat,
        bytes: &[u8],
    ) -> Result<ProductDoc, ImageError> {
        if bytes.is_empty() {
            return Err(ImageError::Empty);
        }
        if !format.matches(bytes) {
            return Err(ImageError::NotOfFormat(format));
        }
        let image = self.files.upload(id, format.mime(), bytes).await?;
        // Should this fail after the server applied it, the new file is in use: it is not deleted
        // here, and the sweep takes whichever file ends up unreferenced.
        let Some(before) = self.products.attach_image(id, caller, &image).await? else {
            self.discard(image.file_id).await;
            explain_no_match(&self.products, id, caller).await?;
            return Err(ProductError::NotFound.into());
        };
        if let Some(old) = &before.image {
            self.discard(old.file_id).await;
        }
        tracing::info!(product_id = %id, bytes = image.length, "product image set");
        Ok(ProductDoc {
            updated_at: image.uploaded_at,
            image: Some(image),
            ..before
        })
    }

    /// Product `id`'s image: [`ImageRead::Held`] when `held` says the client has it already,
    /// otherwise with its bytes.
    pub async fn read(
        &self,
        id: ObjectId,
        held: impl Fn(&ImageRef) -> bool,
    ) -> Result<ImageRead, ImageError> {
        // A replacement may delete the file between reading the reference and opening it: read the
        // reference again once, then it names the new file.
        for _ in 0..2 {
            let product = self
                .products
                .find(id)
                .await?
                .ok_or(ProductError::NotFound)?;
            let image = product.image.ok_or(ImageError::NoImage)?;
            if held(&image) {
                return Ok(ImageRead::Held(image));
            }
            if let Some(stream) = self.files.open(image.file_id).await? {
                return Ok(ImageRead::Bytes(image, Box::new(stream)));
            }
        }
        Err(ImageError::NoImage)
    }

    /// Removes product `id`'s image if `caller` may; removing an image the product does not have
    /// is not an error (a repeated `DELETE`, say).
    pub async fn remove(&self, id: ObjectId, caller: &AuthUser) -> Result<(), ImageError> {
        let Some(before) = self.products.detach_image(id, caller).await? else {
            // Nothing matched: gone or not theirs if that is why; otherwise the product is the
            // caller's and has no image, which is what was asked for.
            explain_no_match(&self.products, id, caller).await?;
            return Ok(());
        };
        if let Some(image) = before.image {
            self.discard(image.file_id).await;
        }
        tracing::info!(product_id = %id, "product image removed");
        Ok(())
    }

    /// Deletes a file that no product references any more, logging a failure: the sweep removes
    /// it later, so the request that let go of it need not fail.
    pub(crate) async fn discard(&self, file_id: ObjectId) {
        if let Err(err) = self.files.delete(file_id).await {
            tracing::warn!(error = %err, %file_id, "image file not deleted; the sweep will remove it");
        }
    }
}
