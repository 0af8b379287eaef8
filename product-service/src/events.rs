//! The product service's events (`product.*`): recorded by [`crate::store::ProductStore`] in the
//! write that makes each change, and relayed from `products` into `events` by the [`Relay`] built
//! here, which renders each snapshot as `GET /products/{id}` shows the product.

use std::{sync::Arc, time::Duration};

use common_api::money::Currency;
use common_catalog::{PRODUCTS, ProductDoc};
use common_platform::events::{Relay, Render};
use mongodb::Database;

use crate::models::ProductResponse;

/// How often the relay looks for events without being woken: for those recorded by another
/// replica, or left by a crash. A write here wakes it at once.
pub const RELAY_POLL: Duration = Duration::from_millis(500);

/// The relay of the events recorded on `products` in `db`, prices shown in `currency`.
pub fn relay(db: &Database, currency: Currency) -> Relay {
    Relay::new(db, PRODUCTS, render(currency))
}

/// A snapshot of a product as `GET /products/{id}` shows it, or `None` if it is no product.
fn render(currency: Currency) -> Render {
    Arc::new(move |_kind, snapshot| {
        let product: ProductDoc = mongodb::bson::from_document(snapshot).ok()?;
        let response = ProductResponse::of(product, currency).ok()?;
        serde_json::to_string(&response).ok()
    })
}

#[cfg(test)]
mod tests {
    use common_platform::events::EventType;
    use mongodb::bson::{DateTime, doc, oid::ObjectId};
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn a_snapshot_renders_as_the_api_shows_the_product() {
        let (id, seller) = (ObjectId::new(), ObjectId::new());
        let at = DateTime::from_millis(1_700_000_000_000);
        let snapshot = doc! {
            "_id": id, "name": "Lamp", "description": "", "price": 1_299_i64,
            "category": "Home", "category_key": "home", "stock": 0_i64, "seller_id": seller,
            "created_at": at, "updated_at": at, "deleted_at": at,
        };

        let rendered = render(Currency::USD)(EventType::ProductDeleted, snapshot.clone()).unwrap();

        let expected = json!({
            "id": id.to_hex(), "name": "Lamp", "description": "", "price": 12.99,
            "currency": "USD", "category": "Home", "stock": 0, "seller_id": seller.to_hex(),
            "created_at": "2023-11-14T22:13:20Z", "updated_at": "2023-11-14T22:13:20Z",
            "image_url": null,
        });
        assert_eq!(serde_json::from_str::<Value>(&rendered).unwrap(), expected);
        assert!(render(Currency::USD)(EventType::ProductCreated, doc! { "x": 1 }).is_none());
    }
}
