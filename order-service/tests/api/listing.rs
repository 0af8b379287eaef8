//! `GET /orders` at every filter: totals and pages past bookkeeping, and the indexes each query
//! is read through (checked with `explain`, so that a lost index cannot go unnoticed).

use axum::http::StatusCode;
use common_api::auth::Role;
use common_testing::TestDb;
use mongodb::bson::{Bson, DateTime, Document, doc, oid::ObjectId};
use order_service::store::{
    OrderDoc, OrderLine, StoredStatus,
    listing::{self, Indexed, ListQuery, Total, newest_first},
};

use crate::helpers::{Caller, TestApp, spawn_app, spawn_app_on};

/// Stores an order of `user` with `status` as it is (no stock taken), returning its id.
async fn stored(app: &TestApp, user: ObjectId, status: StoredStatus) -> ObjectId {
    let now = DateTime::now();
    let line = OrderLine {
        product_id: ObjectId::new(),
        quantity: 1,
        name: "Mug".into(),
        unit_price: 800.into(),
    };
    let order = OrderDoc::new(ObjectId::new(), user, vec![line], status, 800.into(), now);
    app.orders.insert(&order).await.unwrap();
    order.id
}

/// Orders of two buyers in every stored status, with tombstones between them, as
/// (id, user, status) in the order they were placed.
async fn seed(app: &TestApp, a: ObjectId, b: ObjectId) -> Vec<(ObjectId, ObjectId, StoredStatus)> {
    use StoredStatus::*;
    let plan = [
        (a, Placed),
        (b, Placed),
        (a, Shipped),
        (a, Cancelling),
        (b, Cancelling),
        (a, Placed),
        (a, Cancelled),
        (b, Shipped),
        (a, Delivered),
        (a, Placed),
        (a, Shipped),
        (b, Placed),
        (a, Cancelled),
    ];
    let mut orders = Vec::new();
    for (index, (user, status)) in plan.into_iter().enumerate() {
        if index % 4 == 1 {
            app.orders.insert_tombstone(ObjectId::new()).await.unwrap();
        }
        orders.push((stored(app, user, status).await, user, status));
    }
    orders
}

/// Every page of `uri` at 2 a page: the ids in order, and the total each page announced.
async fn read_all_pages(app: &TestApp, caller: &Caller, uri: &str) -> (Vec<String>, Vec<String>) {
    let separator = if uri.contains('?') { '&' } else { '?' };
    let (mut ids, mut totals) = (Vec::new(), Vec::new());
    for offset in (0..).step_by(2) {
        let response = app
            .get(&format!("{uri}{separator}limit=2&offset={offset}"))
            .bearer(&caller.token)
            .send()
            .await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{uri}: {}",
            response.text()
        );
        totals.push(response.header("x-total-count").unwrap_or("").to_owned());
        let page = response.json();
        let page = page.as_array().unwrap();
        ids.extend(
            page.iter()
                .map(|order| order["id"].as_str().unwrap().to_owned()),
        );
        let has_next = response
            .header("link")
            .is_some_and(|l| l.contains("rel=\"next\""));
        if page.len() < 2 || !has_next {
            assert!(!has_next, "{uri}: a next link after the last page");
            break;
        }
    }
    (ids, totals)
}

#[tokio::test]
async fn every_filter_counts_and_pages_its_orders_past_tombstones_and_cancels_in_progress() {
    let app = spawn_app().await;
    let (buyer, other, admin) = (
        app.caller(Role::Buyer),
        app.caller(Role::Buyer),
        app.caller(Role::Admin),
    );
    let orders = seed(&app, buyer.id, other.id).await;
    let status_filters: [(&str, &[StoredStatus]); 5] = [
        ("", &StoredStatus::VISIBLE),
        ("PLACED", &[StoredStatus::Placed]),
        ("SHIPPED", &[StoredStatus::Shipped]),
        ("DELIVERED", &[StoredStatus::Delivered]),
        (
            "CANCELLED",
            &[StoredStatus::Cancelled, StoredStatus::Cancelling],
        ),
    ];
    let mut cases = Vec::new();
    for (status, stored_as) in status_filters {
        let query = if status.is_empty() {
            String::new()
        } else {
            format!("status={status}")
        };
        let join = |scope: String| match (scope.is_empty(), query.is_empty()) {
            (true, _) => format!("/orders?{query}"),
            (false, true) => format!("/orders?{scope}"),
            (false, false) => format!("/orders?{scope}&{query}"),
        };
        let users = format!("user_id={}", other.id);
        let own = format!("user_id={}", buyer.id);
        cases.push((&admin, join(String::new()), None, stored_as));
        cases.push((&admin, join(users), Some(other.id), stored_as));
        cases.push((&buyer, join(String::new()), Some(buyer.id), stored_as));
        cases.push((&buyer, join(own), Some(buyer.id), stored_as));
    }

    for (caller, uri, user, stored_as) in cases {
        let (ids, totals) = read_all_pages(&app, caller, &uri).await;

        let expected: Vec<String> = orders
            .iter()
            .rev()
            .filter(|(_, owner, status)| {
                user.is_none_or(|user| user == *owner) && stored_as.contains(status)
            })
            .map(|(id, ..)| id.to_hex())
            .collect();
        assert_eq!(ids, expected, "{uri}: newest first, no gaps or repeats");
        for total in totals {
            assert_eq!(total, expected.len().to_string(), "{uri}: X-Total-Count");
        }
    }
}

#[tokio::test]
async fn an_empty_list_has_a_total_of_zero_whatever_the_tombstones() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);
    for _ in 0..3 {
        app.orders.insert_tombstone(ObjectId::new()).await.unwrap();
    }

    let everyone = app.get("/orders").bearer(&admin.token).send().await;
    let cancelled = app
        .get("/orders?status=CANCELLED")
        .bearer(&admin.token)
        .send()
        .await;

    assert_eq!(everyone.header("x-total-count"), Some("0"));
    assert_eq!(everyone.json(), serde_json::json!([]));
    assert_eq!(cancelled.header("x-total-count"), Some("0"));
}

/// Every object with a `stage` in the winning plans of an explain output.
fn winning_stages(explain: &Document) -> Vec<Document> {
    fn stages_in(value: &Bson, found: &mut Vec<Document>) {
        match value {
            Bson::Document(doc) => {
                if doc.contains_key("stage") {
                    found.push(doc.clone());
                }
                for (key, value) in doc {
                    if key != "rejectedPlans" {
                        stages_in(value, found);
                    }
                }
            }
            Bson::Array(values) => values.iter().for_each(|value| stages_in(value, found)),
            _ => {}
        }
    }
    fn winning_plans(value: &Bson, found: &mut Vec<Document>) {
        match value {
            Bson::Document(doc) => {
                for (key, value) in doc {
                    match key.as_str() {
                        "winningPlan" => stages_in(value, found),
                        "rejectedPlans" => {}
                        _ => winning_plans(value, found),
                    }
                }
            }
            Bson::Array(values) => values.iter().for_each(|value| winning_plans(value, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    winning_plans(&Bson::Document(explain.clone()), &mut found);
    assert!(!found.is_empty(), "no winning plan in {explain}");
    found
}

fn stage_names(stages: &[Document]) -> Vec<&str> {
    stages.iter().map(|s| s.get_str("stage").unwrap()).collect()
}

/// Asserts that `query`'s count reads index keys only: a COUNT_SCAN on its index, nothing else.
async fn assert_counted_over_keys(app: &TestApp, query: &Indexed) {
    // What `count_documents` sends.
    let explain = app
        .db
        .db
        .run_command(doc! {
            "explain": {
                "aggregate": "orders",
                "pipeline": [
                    { "$match": query.filter.clone() },
                    { "$group": { "_id": 1, "n": { "$sum": 1 } } },
                ],
                "cursor": {},
                "hint": query.index,
            },
            "verbosity": "executionStats",
        })
        .await
        .unwrap();
    let stages = winning_stages(&explain);
    let names = stage_names(&stages);
    let scan = stages
        .iter()
        .find(|s| s.get_str("stage") == Ok("COUNT_SCAN"))
        .unwrap_or_else(|| panic!("count of {} is {names:?}", query.filter));
    assert_eq!(scan.get_str("indexName"), Ok(query.index));
    assert!(
        !names
            .iter()
            .any(|n| ["COLLSCAN", "FETCH", "IXSCAN"].contains(n)),
        "count of {}: {names:?}",
        query.filter
    );
}

/// Asserts that `query`'s page is an index scan of its index, in `_id` order without a sort,
/// that fetches only the documents it returns.
async fn assert_paged_over_keys(app: &TestApp, query: &Indexed) {
    let explain = app
        .db
        .db
        .run_command(doc! {
            "explain": {
                "find": "orders",
                "filter": query.filter.clone(),
                "sort": newest_first(),
                "hint": query.index,
                "skip": 1_i64,
                "limit": 2_i64,
            },
            "verbosity": "executionStats",
        })
        .await
        .unwrap();
    let stages = winning_stages(&explain);
    let names = stage_names(&stages);
    let context = format!("page of {}: {names:?}", query.filter);
    assert!(!names.contains(&"COLLSCAN"), "{context}");
    assert!(!names.contains(&"SORT"), "a sort in memory: {context}");
    for stage in &stages {
        match stage.get_str("stage").unwrap() {
            "IXSCAN" => assert_eq!(stage.get_str("indexName"), Ok(query.index), "{context}"),
            "FETCH" => assert!(!stage.contains_key("filter"), "a fetch filter: {context}"),
            _ => {}
        }
    }
    assert!(names.contains(&"IXSCAN"), "{context}");
    let stats = explain.get_document("executionStats").unwrap();
    let number = |key| match stats.get(key) {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        other => panic!("{key} is {other:?}"),
    };
    assert_eq!(number("nReturned"), 2, "a full page: {context}");
    assert_eq!(
        number("totalDocsExamined"),
        number("nReturned"),
        "only returned orders are fetched: {context}"
    );
}

#[tokio::test]
async fn every_list_query_reads_its_index_without_a_collection_scan() {
    let app = spawn_app().await;
    let (buyer, other) = (ObjectId::new(), ObjectId::new());
    seed(&app, buyer, other).await;
    let cancelled = [StoredStatus::Cancelled, StoredStatus::Cancelling];
    let shapes: [(Option<ObjectId>, Option<&[StoredStatus]>); 6] = [
        (None, None),
        (None, Some(&[StoredStatus::Shipped])),
        (None, Some(&cancelled)),
        (Some(buyer), None),
        (Some(buyer), Some(&[StoredStatus::Placed])),
        (Some(buyer), Some(&cancelled)),
    ];

    for (user, statuses) in shapes {
        let query = ListQuery::new(user, statuses);
        let intended = match user {
            Some(_) => listing::USER_STATUS_NEWEST_FIRST,
            None => listing::STATUS_NEWEST_FIRST,
        };

        assert_eq!(query.page.index, intended);
        assert_paged_over_keys(&app, &query.page).await;
        let counts = match &query.total {
            Total::AllBut(hidden) => hidden,
            Total::Sum(counts) => counts,
        };
        assert!(!counts.is_empty(), "{query:?}");
        for count in counts {
            assert_eq!(count.index, intended);
            assert_counted_over_keys(&app, count).await;
        }
    }
}

#[tokio::test]
async fn the_index_the_list_indexes_replace_is_dropped_at_startup() {
    let db = TestDb::new("order_service").await;
    db.db
        .collection::<Document>("orders")
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! { "user_id": 1, "_id": -1 })
                .build(),
        )
        .await
        .unwrap();

    let app = spawn_app_on(db).await;

    let names = app
        .db
        .db
        .collection::<Document>("orders")
        .list_index_names()
        .await
        .unwrap();
    assert!(
        !names.contains(&listing::RETIRED_BY_USER.to_owned()),
        "{names:?}"
    );
    for index in [
        listing::STATUS_NEWEST_FIRST,
        listing::USER_STATUS_NEWEST_FIRST,
    ] {
        assert!(names.contains(&index.to_owned()), "{names:?}");
    }
}
