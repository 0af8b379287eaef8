//! bcrypt hashing and verification, off the async runtime.
//!
//! bcrypt is deliberately slow (about 250 ms at cost 12), so it runs on the blocking pool and at
//! most one hash per CPU at a time: more would only queue on the cores while holding threads.
//! Unknown emails are verified against a dummy hash of the same cost, so a login takes about the
//! same time whether or not the account exists.
//!
//! The queue for those slots is bounded in time: a request that gets no slot within
//! `BCRYPT_QUEUE_WAIT_MS` is answered 503 `OVERLOADED` with `Retry-After: 1`, so a flood of
//! logins cannot build a backlog that every later request waits behind.

use std::{fmt, sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::models::MAX_PASSWORD_BYTES;

/// A bcrypt hash; never printed.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// No bcrypt slot came free within the queue wait: the client may try again after this many
    /// seconds.
    #[error("too many password checks queued; retry after {retry_after_secs}s")]
    Overloaded { retry_after_secs: u64 },
    /// The hash could not be computed (a bug, or a hashing task that died).
    #[error(transparent)]
    Failed(anyhow::Error),
}

/// Hashes and verifies passwords. Cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    cost: u32,
    permits: Arc<Semaphore>,
    max_wait: Duration,
    dummy: PasswordHash,
}

impl Passwords {
    /// A hasher at `cost` whose callers wait at most `max_wait` for a slot; computes the dummy
    /// hash, which takes one hash's time.
    pub async fn new(cost: u32, max_wait: Duration) -> anyhow::Result<Self> {
        let parallelism = std::thread::available_parallelism().map_or(2, usize::from);
        let mut passwords = Self {
            cost,
            permits: Arc::new(Semaphore::new(parallelism)),
            max_wait,
            dummy: PasswordHash(String::new()),
        };
        // Random, so no password can match it.
        let mut random = [0u8; 16];
        getrandom::fill(&mut random)?;
        let dummy_password = random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        passwords.dummy = passwords.hash(dummy_password).await?;
        Ok(passwords)
    }

    /// Hashes a password of at most 72 bytes.
    ///
    /// bcrypt reads at most 72 bytes; up to that every byte counts. (`non_truncating_hash` would
    /// also refuse exactly 72, only because no terminating NUL fits, which the contract allows.)
    pub async fn hash(&self, password: String) -> Result<PasswordHash, HashError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(HashError::Failed(anyhow::anyhow!(
                "a password over {MAX_PASSWORD_BYTES} bytes reached the hasher"
            )));
        }
        let cost = self.cost;
        self.blocking(move || bcrypt::hash(password, cost))
            .await?
            .map(PasswordHash)
            .map_err(|err| HashError::Failed(err.into()))
    }

    /// Whether `password` matches `hash`.
    ///
    /// Without a hash (an unknown email), or with a password over 72 bytes (which registration
    /// refuses, so it matches nothing), it checks against the dummy and answers `false`: every
    /// answer costs one verification and takes about the same time.
    pub async fn verify(
        &self,
        password: String,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, HashError> {
        let target = hash
            .filter(|_| password.len() <= MAX_PASSWORD_BYTES)
            .cloned();
        let checked = target.clone().unwrap_or_else(|| self.dummy.clone());
        let matches = self
            .blocking(move || bcrypt::verify(password, &checked.0).unwrap_or(false))
            .await?;
        Ok(matches && target.is_some())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        // The permit moves into the blocking task: if the request is dropped (client gone,
        // timeout), the hash still runs to the end, and keeps its slot until then.
        // The semaphore is fair (first come, first served), so a wait bound is a queue bound:
        // at most about `max_wait` worth of hashes is ever queued ahead of a request.
        // Neither the wait nor the hash is database work, so the request's database deadline
        // stops meanwhile: the queue has its own bound and the hash a known cost.
        common_api::budget::paused(async {
            let permit =
                tokio::time::timeout(self.max_wait, Arc::clone(&self.permits).acquire_owned())
                    .await
                    .map_err(|_| {
                        tracing::warn!("bcrypt queue full; request refused as overloaded");
                        HashError::Overloaded {
                            retry_after_secs: 1,
                        }
                    })?
                    .map_err(|err| HashError::Failed(err.into()))?;
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                work()
            })
            .await
            .map_err(|err| HashError::Failed(err.into()))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let passwords = Passwords::new(4, Duration::from_secs(5)).await.unwrap();
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(
            passwords
                .verify("correct horse".into(), Some(&hash))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("wrong horse".into(), Some(&hash))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("correct horse".into(), None)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_password_over_72_bytes_never_matches() {
        let passwords = Passwords::new(4, Duration::from_secs(5)).await.unwrap();
        let base = "x".repeat(72);
        let hash = passwords.hash(base.clone()).await.unwrap();
        // bcrypt alone would accept this: it ignores bytes past 72.
        let longer = format!("{base}y");
        assert!(!passwords.verify(longer, Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn no_free_slot_within_the_wait_is_refused_as_overloaded() {
        let passwords = Passwords::new(4, Duration::from_millis(10)).await.unwrap();
        // Every slot taken, as by hashes in progress.
        let permits = passwords.permits.available_permits() as u32;
        let _held = Arc::clone(&passwords.permits)
            .acquire_many_owned(permits)
            .await
            .unwrap();

        let err = passwords.verify("guess".into(), None).await.unwrap_err();

        assert!(
            matches!(
                err,
                HashError::Overloaded {
                    retry_after_secs: 1
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn debug_output_hides_the_hash() {
        let hash = PasswordHash("$2b$04$secret".into());
        assert!(!format!("{hash:?}").contains("secret"));
    }
}
