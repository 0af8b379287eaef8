//! The sweep: removes what a crash or a failed request leaves in the image bucket.
//!
//! - **Files no product references**: every file uploaded before a cutoff that no product points
//!   to (an upload whose swap never happened, an old file whose delete failed, the file of a
//!   product deleted in between). One indexed lookup of product references per thousand files
//!   (`image.file_id` on `products`, `uploadDate` on the files), without reading any image.
//! - **Chunks without a file**: GridFS writes an upload's chunks first and its file document
//!   last, so an upload cut off midway (the process killed, the connection to MongoDB lost) leaves
//!   chunks that no file owns. Their `files_id` is the id the upload was given when it started,
//!   so chunks whose id lies before the cutoff and whose file does not exist are deleted: one
//!   aggregation per sweep, over the chunks of uploads started since the previous sweep (all of
//!   them on the first sweep after a start).
//!
//! The cutoff ([`super::orphan_age`]) is well past the longest an upload request can live, so a
//! file or chunk whose upload is still under way is never taken.

use std::time::Duration;

use common_platform::server::Shutdown;
use futures_util::TryStreamExt;
use mongodb::{
    bson::{DateTime, oid::ObjectId},
    error::Error,
};

use super::Images;

/// How often the sweep runs.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// Files swept per lookup of their products.
const SWEEP_BATCH: usize = 1000;

/// How far back before the previous sweep's cutoff the next one looks for chunks without a file:
/// ids are made from each replica's clock, which may lag another's.
const CLOCK_SLACK: Duration = Duration::from_secs(60 * 60);

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Files no product referenced.
    pub files: u64,
    /// Uploads cut off midway whose chunks were removed.
    pub partial_uploads: u64,
}

impl Images {
    /// Deletes every file uploaded before `cutoff` that no product references, and the chunks of
    /// uploads started before `cutoff` that never got a file.
    pub async fn sweep(&self, cutoff: DateTime) -> Result<Swept, Error> {
        Ok(Swept {
            files: self.sweep_unreferenced_files(cutoff).await?,
            partial_uploads: self.sweep_chunks_without_file(cutoff).await?,
        })
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
            let cutoff = common_api::time::minus(DateTime::now(), orphan_age);
            match self.sweep(cutoff).await {
                Ok(swept) if swept == Swept::default() => {}
                Ok(swept) => tracing::info!(
                    files = swept.files,
                    partial_uploads = swept.partial_uploads,
                    "image sweep"
                ),
                Err(err) => tracing::warn!(error = %err, "image sweep failed; retrying next time"),
            }
        }
    }

    async fn sweep_unreferenced_files(&self, cutoff: DateTime) -> Result<u64, Error> {
        let mut cursor = self
            .files
            .uploaded_before(cutoff, u32::try_from(SWEEP_BATCH).unwrap_or(u32::MAX))
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
        let referenced = self.products.referenced_images(files).await?;
        let mut deleted = 0;
        for &file_id in files.iter().filter(|id| !referenced.contains(id)) {
            self.files.delete(file_id).await?;
            tracing::info!(%file_id, "unreferenced image file swept");
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Deletes the chunks of uploads started before `cutoff` (and after the previous sweep's
    /// cutoff, less [`CLOCK_SLACK`]) that have no file; returns how many uploads they were.
    async fn sweep_chunks_without_file(&self, cutoff: DateTime) -> Result<u64, Error> {
        let until = object_id_at(cutoff);
        let since = *self
            .chunks_swept_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let since = since.map(|since| object_id_at(common_api::time::minus(since, CLOCK_SLACK)));
        let orphans = self.files.partial_uploads(since, until).await?;
        if !orphans.is_empty() {
            self.files.delete_chunks(&orphans).await?;
            for files_id in &orphans {
                tracing::info!(%files_id, "chunks of an upload cut off midway swept");
            }
        }
        *self
            .chunks_swept_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(cutoff);
        Ok(orphans.len() as u64)
    }
}

/// The smallest ObjectId made at `at` (ids carry their creation time in whole seconds).
fn object_id_at(at: DateTime) -> ObjectId {
    let seconds = u32::try_from(at.timestamp_millis().max(0) / 1000).unwrap_or(u32::MAX);
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&seconds.to_be_bytes());
    ObjectId::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_made_after_an_instant_sorts_after_that_instants_bound() {
        let at = DateTime::from_millis(1_700_000_000_500);
        let bound = object_id_at(at);

        assert_eq!(bound.timestamp().timestamp_millis(), 1_700_000_000_000);
        assert!(ObjectId::new() > bound);
        assert!(object_id_at(DateTime::from_millis(1_699_999_999_000)) < bound);
    }
}
