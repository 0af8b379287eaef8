//! The `idempotency_keys` collection: which order a user's `Idempotency-Key` stands for.
//!
//! A claim is inserted before any stock is taken, keyed by (user, key) so the unique `_id` lets
//! exactly one request win. It records the fingerprint of the request and the id the order will
//! get, and is confirmed once that order is stored. An unconfirmed claim whose order never
//! appeared is released: by the request itself when the order is refused, otherwise by the
//! recovery pass. Claims expire after a day.

use std::time::Duration;

use common_platform::db::ttl_index;
use futures_util::TryStreamExt;
use mongodb::{
    Collection, Database, IndexModel,
    bson::{DateTime, doc, oid::ObjectId},
    error::Error,
};
use serde::{Deserialize, Serialize};

/// How long a key is remembered.
const KEY_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Whose key it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimId {
    /// The user who sent the key.
    pub user_id: ObjectId,
    /// The key.
    pub key: String,
}

/// A stored claim.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClaimDoc {
    /// User and key.
    #[serde(rename = "_id")]
    pub id: ClaimId,
    /// A digest of the request the key was first used with.
    pub fingerprint: String,
    /// The id of the order this key stands for.
    pub order_id: ObjectId,
    /// When the key was first used.
    pub created_at: DateTime,
    /// Whether the order is known to be stored.
    #[serde(default)]
    pub confirmed: bool,
}

/// The outcome of claiming a key.
#[derive(Debug)]
pub enum Claim {
    /// This request holds the key now and places the order.
    Won,
    /// Another request holds it.
    Held(ClaimDoc),
    /// Another request held it but has just released it: try again.
    Released,
}

/// Claims and releases idempotency keys.
#[derive(Clone)]
pub struct Claims {
    claims: Collection<ClaimDoc>,
}

impl Claims {
    /// The store over `db.idempotency_keys`.
    pub fn new(db: &Database) -> Self {
        Self {
            claims: db.collection("idempotency_keys"),
        }
    }

    /// Creates the TTL index that forgets keys after a day, and the one the recovery pass uses.
    pub async fn ensure_indexes(&self) -> Result<(), Error> {
        let unconfirmed = IndexModel::builder()
            .keys(doc! { "confirmed": 1, "created_at": 1 })
            .build();
        let expiry = ttl_index("created_at", KEY_RETENTION, "created_at_ttl", None);
        self.claims.create_indexes([expiry, unconfirmed]).await?;
        Ok(())
    }

    /// Claims `id` for `order_id`, unless another request holds it.
    pub async fn claim(
        &self,
        id: &ClaimId,
        fingerprint: &str,
        order_id: ObjectId,
    ) -> Result<Claim, Error> {
        let claim = ClaimDoc {
            id: id.clone(),
            fingerprint: fingerprint.to_owned(),
            order_id,
            created_at: DateTime::now(),
            confirmed: false,
        };
        match self.claims.insert_one(&claim).await {
            Ok(_) => Ok(Claim::Won),
            Err(err) if common_platform::db::is_duplicate_key(&err) => {
                let id = mongodb::bson::to_bson(id)?;
                match self.claims.find_one(doc! { "_id": id }).await? {
                    Some(existing) => Ok(Claim::Held(existing)),
                    None => Ok(Claim::Released),
                }
            }
            Err(err) => Err(err),
        }
    }

    /// Records that the order of `id`'s claim is stored.
    pub async fn confirm(&self, id: &ClaimId, order_id: ObjectId) -> Result<(), Error> {
        let id = mongodb::bson::to_bson(id)?;
        self.claims
            .update_one(
                doc! { "_id": id, "order_id": order_id },
                doc! { "$set": { "confirmed": true } },
            )
            .await?;
        Ok(())
    }

    /// Releases the claim `id` if it still stands for `order_id`.
    pub async fn release(&self, id: &ClaimId, order_id: ObjectId) -> Result<(), Error> {
        let id = mongodb::bson::to_bson(id)?;
        self.claims
            .delete_one(doc! { "_id": id, "order_id": order_id })
            .await?;
        Ok(())
    }

    /// Unconfirmed claims made before `cutoff`.
    pub async fn unconfirmed_before(&self, cutoff: DateTime) -> Result<Vec<ClaimDoc>, Error> {
        self.claims
            .find(doc! { "confirmed": false, "created_at": { "$lt": cutoff } })
            .await?
            .try_collect()
            .await
    }
}
