//! Image files in GridFS (bucket [`BUCKET`]): their bytes, and the queries the sweep makes of
//! the bucket's two collections. The reference a product holds is [`super::ProductStore`]'s.

use common_catalog::ImageRef;
use futures_util::{AsyncWriteExt, TryStreamExt};
use mongodb::{
    Collection, Cursor, Database, IndexModel,
    bson::{Bson, DateTime, Document, doc, oid::ObjectId},
    error::{Error, ErrorKind, GridFsErrorKind},
    gridfs::{GridFsBucket, GridFsDownloadStream, GridFsUploadStream},
    options::GridFsBucketOptions,
};
use sha2::{Digest, Sha256};

/// The GridFS bucket of product images (`product_images.files`, `product_images.chunks`).
pub const BUCKET: &str = "product_images";

/// Reads and writes image files. Cheap to clone.
#[derive(Clone)]
pub struct ImageFiles {
    bucket: GridFsBucket,
    files: Collection<Document>,
    chunks: Collection<Document>,
}

impl ImageFiles {
    /// The store over `db`'s image bucket.
    pub fn new(db: &Database) -> Self {
        let options = GridFsBucketOptions::builder()
            .bucket_name(BUCKET.to_owned())
            .build();
        Self {
            bucket: db.gridfs_bucket(options),
            files: db.collection(&format!("{BUCKET}.files")),
            chunks: db.collection(&format!("{BUCKET}.chunks")),
        }
    }

    /// Creates the index the sweep reads files by (upload time); a no-op when it exists.
    pub async fn ensure_indexes(&self) -> Result<(), Error> {
        self.files
            .create_index(IndexModel::builder().keys(doc! { "uploadDate": 1 }).build())
            .await?;
        Ok(())
    }

    /// Stores `bytes` (of media type `mime`) as a new file for `product` and returns its
    /// reference.
    pub async fn upload(
        &self,
        product: ObjectId,
        mime: &str,
        bytes: &[u8],
    ) -> Result<ImageRef, Error> {
        let file_id = ObjectId::new();
        let mut stream = self
            .bucket
            .open_upload_stream(product.to_hex())
            .id(Bson::ObjectId(file_id))
            .metadata(doc! { "product_id": product, "content_type": mime })
            .await?;
        if let Err(err) = write_all(&mut stream, bytes).await {
            let _ = stream.abort().await;
            return Err(err);
        }
        Ok(ImageRef {
            file_id,
            content_type: mime.to_owned(),
            length: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            sha256: sha256_hex(bytes),
            uploaded_at: DateTime::now(),
        })
    }

    /// Deletes a file; one already gone is not an error.
    pub async fn delete(&self, file_id: ObjectId) -> Result<(), Error> {
        match self.bucket.delete(Bson::ObjectId(file_id)).await {
            Err(err) if is_file_not_found(&err) => Ok(()),
            other => other,
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

    /// The ids of the files uploaded before `cutoff`, read `batch` at a time.
    pub async fn uploaded_before(
        &self,
        cutoff: DateTime,
        batch: u32,
    ) -> Result<Cursor<Document>, Error> {
        self.files
            .find(doc! { "uploadDate": { "$lt": cutoff } })
            .projection(doc! { "_id": 1 })
            .batch_size(batch)
            .await
    }

    /// The files ids of uploads that wrote chunks but no file, among those whose id lies in
    /// `since..until` (from the first chunk on when `since` is `None`).
    pub async fn partial_uploads(
        &self,
        since: Option<ObjectId>,
        until: ObjectId,
    ) -> Result<Vec<ObjectId>, Error> {
        let mut ids = doc! { "$lt": until };
        if let Some(since) = since {
            ids.insert("$gte", since);
        }
        // Every upload writes chunk 0 first: one row per upload, and the index on
        // (files_id, n) that GridFS keeps serves the match.
        let pipeline = [
            doc! { "$match": { "files_id": ids, "n": 0 } },
            doc! { "$lookup": {
                "from": format!("{BUCKET}.files"),
                "localField": "files_id",
                "foreignField": "_id",
                "as": "file",
            } },
            doc! { "$match": { "file": { "$size": 0 } } },
            doc! { "$project": { "_id": 0, "files_id": 1 } },
        ];
        self.chunks
            .aggregate(pipeline)
            .await?
            .try_filter_map(|row| async move { Ok(row.get_object_id("files_id").ok()) })
            .try_collect()
            .await
    }

    /// Deletes every chunk of the uploads `files_ids`.
    pub async fn delete_chunks(&self, files_ids: &[ObjectId]) -> Result<(), Error> {
        self.chunks
            .delete_many(doc! { "files_id": { "$in": files_ids } })
            .await?;
        Ok(())
    }
}

async fn write_all(stream: &mut GridFsUploadStream, bytes: &[u8]) -> Result<(), Error> {
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

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
