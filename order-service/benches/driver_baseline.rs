//! The ceiling the service is measured against: orders per second on one product with the driver
//! alone (no HTTP), `tasks` concurrent clients:
//!
//! - two writes per order: a conditional `find_one_and_update` taking one unit
//!   (`{_id, stock >= 1}`, `$inc: {stock: -1}`) and the insert of the order;
//! - three writes: the take also pushes a hold, and the hold is pulled after the insert, one
//!   `$pull` per order (what the service would do without batching).
//!
//! `MONGO_URI=… cargo bench -p order-service --bench driver_baseline -- [tasks] [seconds]`
//! (`scripts/bench/orders.sh` runs it against a throwaway replica set).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use common_catalog::{Hold, PRODUCTS, field};
use mongodb::{
    Client, Collection,
    bson::{DateTime, Document, doc, oid::ObjectId, to_bson},
    options::ClientOptions,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).filter(|arg| arg != "--bench");
    let tasks: usize = args.next().map_or(Ok(32), |arg| arg.parse())?;
    let seconds: u64 = args.next().map_or(Ok(10), |arg| arg.parse())?;
    let uri = std::env::var("MONGO_URI").map_err(|_| anyhow::anyhow!("set MONGO_URI"))?;
    // The same pool size the services run with, so the comparison is like for like.
    let mut options = ClientOptions::parse(&uri).await?;
    options
        .max_pool_size
        .get_or_insert(common_platform::db::DEFAULT_MAX_POOL_SIZE);
    let client = Client::with_options(options)?;
    let database = client.database(&format!("bench_driver_{}", ObjectId::new()));
    let products: Collection<Document> = database.collection(PRODUCTS);
    let orders: Collection<Document> = database.collection("orders");

    for (label, with_holds) in [
        ("2 writes (take + insert)", false),
        ("3 writes (+ push/pull a hold)", true),
    ] {
        let product = ObjectId::new();
        products
            .insert_one(
                doc! { field::ID: product, field::NAME: "Hot", field::PRICE: 9.99, field::STOCK: 1_000_000_000_i64 },
            )
            .await?;
        let placed = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..tasks {
            let (products, orders, placed) =
                (products.clone(), orders.clone(), Arc::clone(&placed));
            workers.spawn(async move {
                while Instant::now() < deadline {
                    let id = ObjectId::new();
                    let at = DateTime::now();
                    let mut update = doc! { "$inc": { field::STOCK: -1 } };
                    if with_holds {
                        let hold = to_bson(&Hold { order: id, qty: 1, at })?;
                        update.insert("$push", doc! { field::HOLDS: hold });
                    }
                    let taken = products
                        .find_one_and_update(doc! { field::ID: product, field::STOCK: { "$gte": 1 } }, update)
                        .projection(doc! { field::NAME: 1, field::PRICE: 1 })
                        .await?;
                    let Some(snapshot) = taken else { continue };
                    orders
                        .insert_one(doc! {
                            "_id": id, "user_id": ObjectId::new(), "status": "PLACED",
                            "items": [{ "product_id": product, "quantity": 1,
                                        "name": snapshot.get_str(field::NAME)?, "unit_price": snapshot.get_f64(field::PRICE)? }],
                            "total": 9.99, "created_at": at, "updated_at": at,
                        })
                        .await?;
                    if with_holds {
                        products
                            .update_one(doc! { field::ID: product }, doc! { "$pull": { field::HOLDS: { "order": id } } })
                            .await?;
                    }
                    placed.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(())
            });
        }
        let started = Instant::now();
        for result in workers.join_all().await {
            result?;
        }
        let rate = placed.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
        println!("RESULT driver {label}: {rate:.0} orders/s ({tasks} tasks, {seconds} s)");
    }
    database.drop().await?;
    Ok(())
}
