//! Product images: the bytes in GridFS (bucket [`BUCKET`]), a reference on the product document
//! ([`ImageRef`]).
//!
//! **Replacing without orphans.** An upload writes the new file first, then swaps the product's
//! reference in one conditional update that returns the old one, then deletes the old file. A
//! reader therefore always finds a complete file behind the reference it reads. A crash (or a
//! database error) between the steps can leave a file that no product references: the new one
//! when the swap never happened, the old one when its delete did not. Deleting a product deletes
//! its file after the product, with the same window.
//!
//! **The sweep** ([`ImageStore::sweep`]) removes such files: every file uploaded before a cutoff
//! that no product references. The cutoff ([`orphan_age`]) is well past the longest an upload
//! request can live, so a file whose upload is still to be swapped in is never taken. It runs
//! when the service starts and every [`SWEEP_INTERVAL`]; its cost is one indexed lookup of
//! product references per thousand files (`image.file_id` on `products`, `uploadDate` on the
//! files), without reading any image.

use std::{collections::HashSet, time::Duration};

use common::{
    catalog::{ImageRef, PRODUCTS, ProductDoc, field},
    server::Shutdown,
};
use futures_util::{AsyncWriteExt, TryStreamExt};
use mongodb::{
    Collection, Database, IndexModel,
    bson::{Bson, DateTime, Document, doc, oid::ObjectId},
    error::{Error, ErrorKind, GridFsErrorKind},
    gridfs::{GridFsBucket, GridFsDownloadStream},
    options::{GridFsBucketOptions, IndexOptions},
};
use sha2::{Digest, Sha256};

/// The GridFS bucket of product images (`product_images.files`, `product_images.chunks`).
pub const BUCKET: &str = "product_images";

/// The largest image accepted, in bytes (2 MiB).
pub const MAX_IMAGE_BYTES: usize = 2 * 1024 * 1024;

/// How often the sweep looks for files no product references.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// Files swept per lookup of their products.
const SWEEP_BATCH: usize = 1000;

/// How old an unreferenced file must be before the sweep deletes it: five minutes, or twice the
/// request timeout if that is longer, since an upload's swap happens within its request.
pub fn orphan_age(request_timeout: Duration) -> Duration {
    (request_timeout * 2).max(Duration::from_secs(5 * 60))
}

/// The image formats accepted, told apart by their first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// `image/png`.
    Png,
    /// `image/jpeg`.
    Jpeg,
    /// `image/webp`.
    Webp,
}

impl ImageFormat {
    /// The format a `Content-Type` declares (parameters and case ignored), if it is one of ours.
    pub fn from_content_type(value: &str) -> Option<Self> {
        let essence = value.split(';').next().unwrap_or_default().trim();
        [Self::Png, Self::Jpeg, Self::Webp]
            .into_iter()
            .find(|format| format.mime().eq_ignore_ascii_case(essence))
    }

    /// The media type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }

    /// Whether `bytes` start as a file of this format does.
    pub fn matches(self, bytes: &[u8]) -> bool {
        match self {
            Self::Png => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            Self::Jpeg => bytes.starts_with(b"\xff\xd8\xff"),
            Self::Webp => bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        }
    }
}

/// The strong `ETag` of an image: its SHA-256, quoted.
pub fn etag(image: &ImageRef) -> String {
    format!("\"{}\"", image.sha256)
}

/// The version of an image in its URL: the first 16 hex characters of its SHA-256.
pub fn version(image: &ImageRef) -> &str {
    image.sha256.get(..16).unwrap_or(&image.sha256)
}

/// Where a product's image is served, relative to the service's base URL; a new image has a new
/// URL, so caches may keep the bytes of each.
pub fn image_url(product: ObjectId, image: &ImageRef) -> String {
    format!("/products/{}/image?v={}", product.to_hex(), version(image))
}

/// Whether an `If-None-Match` header names `etag` (weak comparison, as RFC 9110 asks for it).
pub fn none_match(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Image files and the references to them.
#[derive(Clone)]
pub struct ImageStore {
    bucket: GridFsBucket,
    files: Collection<Document>,
    products: Collection<ProductDoc>,
}

impl ImageStore {
    /// The store over `db`'s image bucket and products.
    pub fn new(db: &Database) -> Self {
        let options = GridFsBucketOptions::builder()
            .bucket_name(BUCKET.to_owned())
            .build();
        Self {
            bucket: db.gridfs_bucket(options),
            files: db.collection(&format!("{BUCKET}.files")),
            products: db.collection(PRODUCTS),
        }
    }

    /// Creates the indexes the sweep reads: files by upload time, products by image file.
    pub async fn ensure_indexes(&self) -> Result<(), Error> {
        self.files
            .create_index(IndexModel::builder().keys(doc! { "uploadDate": 1 }).build())
            .await?;
        let by_file = IndexModel::builder()
            .keys(doc! { field::IMAGE_FILE_ID: 1 })
            .options(IndexOptions::builder().sparse(true).build())
            .build();
        self.products.create_index(by_file).await?;
        Ok(())
    }

    /// Stores `bytes` as a new file for `product` and returns its reference.
    pub async fn upload(
        &self,
        product: ObjectId,
        format: ImageFormat,
        bytes: &[u8],
    ) -> Result<ImageRef, Error> {
        let file_id = ObjectId::new();
        let mut stream = self
            .bucket
            .open_upload_stream(product.to_hex())
            .id(Bson::ObjectId(file_id))
            .metadata(doc! { "product_id": product, "content_type": format.mime() })
            .await?;
        if let Err(err) = write_all(&mut stream, bytes).await {
            let _ = stream.abort().await;
            return Err(err);
        }
        Ok(ImageRef {
            file_id,
            content_type: format.mime().to_owned(),
            length: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            sha256: sha256_hex(bytes),
            uploaded_at: DateTime::now(),
        })
    }

    /// Sets `image` as the product's image if `filter` (ownership) matches, in one update that
    /// returns the product as it was (with the image it replaced); `None` when nothing matched.
    pub async fn attach(
        &self,
        filter: Document,
        image: &ImageRef,
    ) -> Result<Option<ProductDoc>, Error> {
        let image = mongodb::bson::to_bson(image)?;
        self.products
            .find_one_and_update(
                filter,
                doc! { "$set": { field::IMAGE: image, field::UPDATED_AT: DateTime::now() } },
            )
            .projection(doc! { field::HOLDS: 0, field::RETURNS: 0 })
            .await
    }

    /// Removes the product's image reference if `filter` (ownership) matches and it has one;
    /// returns the product as it was, or `None` when nothing matched.
    pub async fn detach(&self, mut filter: Document) -> Result<Option<ProductDoc>, Error> {
        filter.insert(field::IMAGE, doc! { "$exists": true });
        self.products
            .find_one_and_update(
                filter,
                doc! {
                    "$unset": { field::IMAGE: "" },
                    "$set": { field::UPDATED_AT: DateTime::now() },
                },
            )
            .projection(doc! { field::HOLDS: 0, field::RETURNS: 0 })
            .await
    }

    /// Deletes a file; one already gone is not an error.
    pub async fn delete_file(&self, file_id: ObjectId) -> Result<(), Error> {
        match self.bucket.delete(Bson::ObjectId(file_id)).await {
            Err(err) if is_file_not_found(&err) => Ok(()),
            other => other,
        }
    }

    /// Deletes a file that no product references any more, logging a failure: the sweep removes
    /// it later, so the request that let go of it need not fail.
    pub async fn discard(&self, file_id: ObjectId) {
        if let Err(err) = self.delete_file(file_id).await {
            tracing::warn!(error = %err, %file_id, "image file not deleted; the sweep will remove it");
        }
    }

    /// The file's bytes as a stream, or `None` if the file is gone (replaced meanwhile).
    pub async fn open(&self, file_id: ObjectId) -> Result<Option<GridFsDownloadStream>, Error> {
        match self
            .bucket
            .open_download_stream(Bson::ObjectId(file_id))
            .await
        {
            Ok(stream) => Ok(Some(stream)),
            Err(err) if is_file_not_found(&err) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Deletes every file uploaded before `cutoff` that no product references; returns how many.
    pub async fn sweep(&self, cutoff: DateTime) -> Result<u64, Error> {
        let mut cursor = self
            .files
            .find(doc! { "uploadDate": { "$lt": cutoff } })
            .projection(doc! { "_id": 1 })
            .batch_size(u32::try_from(SWEEP_BATCH).unwrap_or(u32::MAX))
            .await?;
        let mut deleted = 0;
        let mut batch = Vec::with_capacity(SWEEP_BATCH);
        loop {
            let next = cursor.try_next().await?;
            if let Some(id) = next
                .as_ref()
                .and_then(|file| file.get_object_id("_id").ok())
            {
                batch.push(id);
            }
            if batch.len() == SWEEP_BATCH || (next.is_none() && !batch.is_empty()) {
                deleted += self.delete_unreferenced(&batch).await?;
                batch.clear();
            }
            if next.is_none() {
                return Ok(deleted);
            }
        }
    }

    async fn delete_unreferenced(&self, files: &[ObjectId]) -> Result<u64, Error> {
        let referenced: HashSet<ObjectId> = self
            .products
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
            .await?;
        let mut deleted = 0;
        for &file_id in files.iter().filter(|id| !referenced.contains(id)) {
            self.delete_file(file_id).await?;
            tracing::info!(%file_id, "unreferenced image file swept");
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Sweeps now and then every [`SWEEP_INTERVAL`] until `shutdown`, for files older than
    /// `orphan_age`.
    pub async fn sweep_periodically(self, orphan_age: Duration, mut shutdown: Shutdown) {
        let mut interval = tokio::time::interval(SWEEP_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = shutdown.signalled() => return,
            }
            let age = i64::try_from(orphan_age.as_millis()).unwrap_or(i64::MAX);
            let cutoff = DateTime::from_millis(DateTime::now().timestamp_millis() - age);
            match self.sweep(cutoff).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "image sweep"),
                Err(err) => tracing::warn!(error = %err, "image sweep failed; retrying next time"),
            }
        }
    }
}

async fn write_all(
    stream: &mut mongodb::gridfs::GridFsUploadStream,
    bytes: &[u8],
) -> Result<(), Error> {
    stream.write_all(bytes).await.map_err(io_to_driver)?;
    stream.close().await.map_err(io_to_driver)
}

/// The upload stream reports the driver's errors inside `io::Error`; take them out again so a
/// database outage is still told apart (503) from a bug.
fn io_to_driver(err: std::io::Error) -> Error {
    match err.downcast::<Error>() {
        Ok(driver) => driver,
        Err(other) => Error::custom(other),
    }
}

fn is_file_not_found(err: &Error) -> bool {
    matches!(
        err.kind.as_ref(),
        ErrorKind::GridFs(GridFsErrorKind::FileNotFound { .. })
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_read_without_parameters_or_case() {
        for (value, expected) in [
            ("image/png", Some(ImageFormat::Png)),
            ("IMAGE/PNG; charset=binary", Some(ImageFormat::Png)),
            ("image/jpeg", Some(ImageFormat::Jpeg)),
            (" image/webp ;q=1", Some(ImageFormat::Webp)),
            ("image/gif", None),
            ("image/jpg", None),
            ("application/json", None),
            ("", None),
        ] {
            assert_eq!(ImageFormat::from_content_type(value), expected, "{value}");
        }
    }

    #[test]
    fn formats_are_recognised_by_their_magic_numbers() {
        let png = b"\x89PNG\r\n\x1a\n rest";
        let jpeg = b"\xff\xd8\xff\xe0 rest";
        let webp = b"RIFF\x10\0\0\0WEBPVP8 ";
        assert!(ImageFormat::Png.matches(png));
        assert!(ImageFormat::Jpeg.matches(jpeg));
        assert!(ImageFormat::Webp.matches(webp));
        assert!(!ImageFormat::Png.matches(jpeg));
        assert!(!ImageFormat::Jpeg.matches(b"\xff\xd8"));
        assert!(!ImageFormat::Webp.matches(b"RIFF\x10\0\0\0WAVE"));
        assert!(!ImageFormat::Png.matches(b"hello, I am text"));
    }

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists_and_any() {
        let tag = "\"abc\"";
        assert!(none_match("\"abc\"", tag));
        assert!(none_match("W/\"abc\"", tag));
        assert!(none_match("\"x\", \"abc\"", tag));
        assert!(none_match("*", tag));
        assert!(!none_match("\"abcd\"", tag));
        assert!(!none_match("abc", tag));
    }

    #[test]
    fn the_hash_is_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
