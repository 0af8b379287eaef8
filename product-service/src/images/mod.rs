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
//! **The sweep** ([`sweep`]) removes such files, and the chunks of uploads cut off midway; it
//! runs when the service starts and every [`SWEEP_INTERVAL`].
//!
//! **Uploads at once.** Each upload holds up to 2 MiB in memory until it is stored, so at most
//! [`DEFAULT_CONCURRENT_UPLOADS`] (`MAX_CONCURRENT_UPLOADS`) are received at a time; one more is
//! answered 503 `OVERLOADED` with `Retry-After` before its body is read.

pub mod sweep;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use common_catalog::{ImageRef, PRODUCTS, ProductDoc, field};
use futures_util::AsyncWriteExt;
use mongodb::{
    Collection, Database, IndexModel,
    bson::{Bson, DateTime, Document, doc, oid::ObjectId},
    error::{Error, ErrorKind, GridFsErrorKind},
    gridfs::{GridFsBucket, GridFsDownloadStream},
    options::{GridFsBucketOptions, IndexOptions},
};
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use self::sweep::SWEEP_INTERVAL;

/// The GridFS bucket of product images (`product_images.files`, `product_images.chunks`).
pub const BUCKET: &str = "product_images";

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

/// Image files and the references to them. Cheap to clone; clones share the upload slots.
#[derive(Clone)]
pub struct ImageStore {
    bucket: GridFsBucket,
    files: Collection<Document>,
    chunks: Collection<Document>,
    products: Collection<ProductDoc>,
    /// One permit per upload being received.
    uploads: Arc<Semaphore>,
    /// The cutoff of the last sweep of chunks without a file: the next one starts there.
    chunks_swept_until: Arc<Mutex<Option<DateTime>>>,
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
            chunks: db.collection(&format!("{BUCKET}.chunks")),
            products: db.collection(PRODUCTS),
            uploads: Arc::new(Semaphore::new(DEFAULT_CONCURRENT_UPLOADS)),
            chunks_swept_until: Arc::default(),
        }
    }

    /// This store receiving at most `uploads` (at least one) uploads at once.
    pub fn with_concurrent_uploads(self, uploads: usize) -> Self {
        Self {
            uploads: Arc::new(Semaphore::new(uploads.max(1))),
            ..self
        }
    }

    /// A slot to receive one upload in, held until the upload is stored; `None` when every slot
    /// is taken.
    pub fn upload_slot(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.uploads).try_acquire_owned().ok()
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
