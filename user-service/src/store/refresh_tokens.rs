//! The `refresh_tokens` collection: opaque refresh tokens, stored only as SHA-256 hashes.
//!
//! A token is spent by one conditional update, so of two concurrent refreshes with the same token
//! exactly one succeeds. A spent token is kept until it would have expired: presenting it again
//! means it was copied, and every refresh token of its user is revoked. The successor is stored
//! before the old token is spent, so a reuse (which revokes only after it sees the old token
//! spent) always revokes the successor too, however the requests interleave. A TTL index removes
//! expired tokens.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use common_api::time;
use common_platform::db::ttl_index;
use mongodb::{
    Collection, Database, IndexModel,
    bson::{DateTime, doc, oid::ObjectId},
    error::Error,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::StoreError;

/// A stored refresh token.
#[derive(Debug, Serialize, Deserialize)]
struct RefreshTokenDoc {
    /// SHA-256 of the token, base64url; the token itself is never stored.
    #[serde(rename = "_id")]
    hash: String,
    user_id: ObjectId,
    spent: bool,
    created_at: DateTime,
    expires_at: DateTime,
}

/// What presenting a refresh token led to.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was valid and is now spent; `successor` is the user's new refresh token.
    Rotated {
        /// Whose token it was.
        user_id: ObjectId,
        /// The new refresh token, already stored.
        successor: String,
    },
    /// The token was already spent: every refresh token of this user was revoked.
    ReuseDetected(ObjectId),
    /// Unknown or expired.
    Invalid,
}

/// Issues, spends and revokes refresh tokens.
#[derive(Clone)]
pub struct RefreshTokens {
    tokens: Collection<RefreshTokenDoc>,
    ttl: Duration,
}

impl RefreshTokens {
    /// The store over `db.refresh_tokens`, issuing tokens that live `ttl`.
    pub fn new(db: &Database, ttl: Duration) -> Self {
        Self {
            tokens: db.collection("refresh_tokens"),
            ttl,
        }
    }

    /// Creates the TTL index on `expires_at` and the index used to revoke a user's tokens.
    pub async fn ensure_indexes(&self) -> Result<(), Error> {
        let expiry = ttl_index("expires_at", Duration::ZERO, "expires_at_ttl", None);
        let by_user = IndexModel::builder().keys(doc! { "user_id": 1 }).build();
        self.tokens.create_indexes([expiry, by_user]).await?;
        Ok(())
    }

    /// Creates a new refresh token for `user_id` and returns it (the only time it exists in clear).
    pub async fn issue(&self, user_id: ObjectId) -> Result<String, StoreError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(StoreError::Random)?;
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let now = DateTime::now();
        let expires_at = time::plus(now, self.ttl);
        self.tokens
            .insert_one(RefreshTokenDoc {
                hash: hash(&token),
                user_id,
                spent: false,
                created_at: now,
                expires_at,
            })
            .await?;
        Ok(token)
    }

    /// Trades `token`, if it is valid, for a new one; detects the reuse of a spent one.
    pub async fn rotate(&self, token: &str) -> Result<RefreshOutcome, StoreError> {
        let old = hash(token);
        let valid = doc! { "_id": &old, "spent": false, "expires_at": { "$gt": DateTime::now() } };
        let Some(current) = self.tokens.find_one(valid.clone()).await? else {
            return Ok(self.spent_or_invalid(&old).await?);
        };
        let successor = self.issue(current.user_id).await?;
        let spent = self
            .tokens
            .update_one(
                valid,
                doc! { "$set": { "spent": true, "spent_at": DateTime::now() } },
            )
            .await?;
        if spent.modified_count == 1 {
            return Ok(RefreshOutcome::Rotated {
                user_id: current.user_id,
                successor,
            });
        }
        // A concurrent request spent it first.
        self.tokens
            .delete_one(doc! { "_id": hash(&successor) })
            .await?;
        Ok(self.spent_or_invalid(&old).await?)
    }

    /// For a token that could not be spent: revokes every token of its user if it was spent
    /// already, and tells which case it was.
    async fn spent_or_invalid(&self, hash: &str) -> Result<RefreshOutcome, Error> {
        match self.tokens.find_one(doc! { "_id": hash }).await? {
            Some(token) if token.spent => {
                self.revoke_all(token.user_id).await?;
                Ok(RefreshOutcome::ReuseDetected(token.user_id))
            }
            _ => Ok(RefreshOutcome::Invalid),
        }
    }

    /// Removes `token` if it is valid and unspent; `false` otherwise.
    pub async fn revoke(&self, token: &str) -> Result<bool, Error> {
        let result = self
            .tokens
            .delete_one(doc! {
                "_id": hash(token),
                "spent": false,
                "expires_at": { "$gt": DateTime::now() },
            })
            .await?;
        Ok(result.deleted_count == 1)
    }

    /// Removes every refresh token of `user_id`.
    pub async fn revoke_all(&self, user_id: ObjectId) -> Result<(), Error> {
        self.tokens.delete_many(doc! { "user_id": user_id }).await?;
        Ok(())
    }
}

fn hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}
