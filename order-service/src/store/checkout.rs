//! What checkout adds to the `orders` collection: the payment deadline of a pending order, the
//! payments applied to it (each provider event once), its expiry, and the revival of an expired
//! order paid late. Each change is one conditional update of one order, so replicas racing to
//! make it, and replays of one provider event racing each other, take effect once.

use mongodb::{
    IndexModel,
    bson::{DateTime, Document, doc, oid::ObjectId},
    error::Error,
    options::{IndexOptions, ReturnDocument},
};
use serde::Deserialize;

use super::{OrderDoc, OrderStore, StoredStatus};

/// What a payment provider said of an order's payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentKind {
    /// The money is there.
    Succeeded,
    /// The payment failed.
    Failed,
}

/// A verified payment event of a provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    /// The provider and its event id (`standard:msg_…`, `stripe:evt_…`): applied once.
    pub event: String,
    /// The order paid for.
    pub order_id: ObjectId,
    /// Succeeded or failed.
    pub kind: PaymentKind,
    /// The amount, in minor units.
    pub amount: i64,
    /// Its currency, an ISO 4217 code in upper case.
    pub currency: String,
    /// The provider's id of the payment.
    pub payment_id: String,
}

/// The indexes checkout reads: pending orders by deadline, expiries and revivals in progress,
/// and orders by revival key. All partial, so an order placed at once writes no entry into any.
pub(super) fn indexes() -> [IndexModel; 4] {
    let partial = |keys: Document, only: Document, name: &str| {
        IndexModel::builder()
            .keys(keys)
            .options(
                IndexOptions::builder()
                    .partial_filter_expression(only)
                    .name(name.to_owned())
                    .build(),
            )
            .build()
    };
    [
        partial(
            doc! { "pay_by": 1 },
            doc! { "status": StoredStatus::PendingPayment.as_str() },
            "pending_by_deadline",
        ),
        partial(
            doc! { "updated_at": 1 },
            doc! { "status": StoredStatus::Expiring.as_str() },
            "expiring_since",
        ),
        partial(
            doc! { "updated_at": 1 },
            doc! { "status": StoredStatus::Reviving.as_str() },
            "reviving_since",
        ),
        partial(
            doc! { "revival": 1 },
            doc! { "revival": { "$exists": true } },
            "by_revival",
        ),
    ]
}

impl OrderStore {
    /// Up to `limit` pending orders whose payment deadline is `now` or earlier, soonest first.
    pub async fn due_for_expiry(&self, now: DateTime, limit: i64) -> Result<Vec<ObjectId>, Error> {
        #[derive(Deserialize)]
        struct Id {
            #[serde(rename = "_id")]
            id: ObjectId,
        }
        let mut cursor = self
            .raw
            .clone_with_type::<Id>()
            .find(doc! {
                "status": StoredStatus::PendingPayment.as_str(),
                "pay_by": { "$lte": now },
            })
            .sort(doc! { "pay_by": 1 })
            .projection(doc! { "_id": 1 })
            .limit(limit)
            .await?;
        let mut due = Vec::new();
        while cursor.advance().await? {
            due.push(cursor.deserialize_current()?.id);
        }
        Ok(due)
    }

    /// Moves pending order `id` whose deadline is `now` or earlier to `EXPIRING`; `None` when it
    /// is not (paid, cancelled, or another replica's expiry came first).
    pub async fn begin_expiry(
        &self,
        id: ObjectId,
        now: DateTime,
    ) -> Result<Option<OrderDoc>, Error> {
        self.change(
            doc! {
                "_id": id,
                "status": StoredStatus::PendingPayment.as_str(),
                "pay_by": { "$lte": now },
            },
            StoredStatus::Expiring,
            Document::new(),
        )
        .await
    }

    /// Applies `payment` to pending order `id`, moving it to `to` (`PLACED` when paid,
    /// `CANCELLING` when the payment failed) and keeping the event, in one conditional update;
    /// `None` when the order is not pending.
    pub async fn apply_payment(
        &self,
        payment: &Payment,
        to: StoredStatus,
        at: DateTime,
    ) -> Result<Option<OrderDoc>, Error> {
        let mut set = Document::new();
        if payment.kind == PaymentKind::Succeeded {
            set.insert("payment_id", &payment.payment_id);
            set.insert("paid_at", at);
        }
        self.change_pushing(
            doc! {
                "_id": payment.order_id,
                "status": StoredStatus::PendingPayment.as_str(),
            },
            to,
            set,
            Some(&payment.event),
        )
        .await
    }

    /// Moves expired order `id`, paid by `payment` after its expiry, to `REVIVING` under the new
    /// stock key `key`, keeping the payment; `None` when it is not `EXPIRED`.
    pub async fn begin_revival(
        &self,
        payment: &Payment,
        key: ObjectId,
        at: DateTime,
    ) -> Result<Option<OrderDoc>, Error> {
        self.orders
            .find_one_and_update(
                doc! {
                    "_id": payment.order_id,
                    "status": StoredStatus::Expired.as_str(),
                },
                doc! {
                    "$set": {
                        "status": StoredStatus::Reviving.as_str(),
                        "updated_at": at,
                        "revival": key,
                        "payment_id": &payment.payment_id,
                        "paid_at": at,
                    },
                    "$push": { "payment_events": &payment.event },
                },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    /// Ends the revival under `key` as `to` (`PLACED` once every line is taken again,
    /// `REFUND_DUE` otherwise); `None` when another actor ended it first.
    pub async fn end_revival(
        &self,
        id: ObjectId,
        key: ObjectId,
        to: StoredStatus,
    ) -> Result<Option<OrderDoc>, Error> {
        self.change(
            doc! { "_id": id, "status": StoredStatus::Reviving.as_str(), "revival": key },
            to,
            Document::new(),
        )
        .await
    }

    /// The status of the order revived under `key`, if one was.
    pub async fn revived_under(&self, key: ObjectId) -> Result<Option<StoredStatus>, Error> {
        self.status_where(doc! { "revival": key }).await
    }
}
