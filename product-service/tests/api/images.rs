//! Product images: upload, replace, serve with validators, delete, and the sweep of files no
//! product references.
//!
//! Over 400 lines on purpose: one test per promise of the image routes, sharing the helpers at
//! the top (image bytes, uploads, raw GridFS writes); RELIABILITY.md cites them in this file.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common_api::auth::Role;
use common_testing::TestResponse;
use mongodb::bson::{DateTime, Document, doc, oid::ObjectId};
use product_service::{
    products::images::{ImageFormat, Images, MAX_IMAGE_BYTES},
    store::{ImageFiles, ProductStore},
};
use serde_json::json;

use crate::helpers::{Caller, ProductSteps, TestApp, spawn_app};

const FILES: &str = "product_images.files";
const CHUNKS: &str = "product_images.chunks";
const UNKNOWN_ID: &str = "0123456789abcdef01234567";

/// A PNG of `len` bytes: the signature, then filler that tells images apart by `seed`.
fn png(len: usize, seed: u8) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..len.saturating_sub(8)).map(|i| seed.wrapping_add(i as u8)));
    bytes.truncate(len);
    bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

async fn put_image(
    app: &TestApp,
    caller: Option<&Caller>,
    id: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> TestResponse {
    let mut request = app
        .request(Method::PUT, &format!("/products/{id}/image"))
        .header("content-type", content_type);
    if let Some(caller) = caller {
        request = request.bearer(&caller.token);
    }
    request.body(bytes).send().await
}

async fn product(app: &TestApp, seller: &Caller) -> String {
    app.product_with_stock(seller, "Lamp", 3).await
}

#[tokio::test]
async fn the_owner_uploads_an_image_that_anyone_can_fetch() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;
    let bytes = png(5000, 1);
    let sha = sha256_hex(&bytes);

    let uploaded = put_image(&app, Some(&seller), &id, "image/png", bytes.clone()).await;
    let fetched = app.get(&format!("/products/{id}/image")).send().await;

    assert_eq!(uploaded.status, StatusCode::OK, "{}", uploaded.text());
    let url = format!("/products/{id}/image?v={}", &sha[..16]);
    assert_eq!(uploaded.json()["image_url"], url.as_str());
    assert_eq!(uploaded.json()["id"], id.as_str());
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body.as_ref(), bytes.as_slice());
    assert_eq!(fetched.header("content-type"), Some("image/png"));
    assert_eq!(fetched.header("content-length"), Some("5000"));
    assert_eq!(fetched.header("etag"), Some(format!("\"{sha}\"").as_str()));
    assert_eq!(fetched.header("cache-control"), Some("public, no-cache"));
    let versioned = app.get(&url).send().await;
    assert_eq!(versioned.body.as_ref(), bytes.as_slice());
    assert_eq!(
        versioned.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
}

#[tokio::test]
async fn jpeg_and_webp_are_accepted_and_content_type_parameters_ignored() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;

    let jpeg = b"\xff\xd8\xff\xe0 a jpeg".to_vec();
    let webp = b"RIFF\x20\0\0\0WEBPVP8 a webp".to_vec();
    let as_jpeg = put_image(&app, Some(&seller), &id, "IMAGE/JPEG; charset=binary", jpeg).await;
    assert_eq!(as_jpeg.status, StatusCode::OK, "{}", as_jpeg.text());
    assert_eq!(
        app.get(&format!("/products/{id}/image"))
            .send()
            .await
            .header("content-type"),
        Some("image/jpeg")
    );
    let as_webp = put_image(&app, Some(&seller), &id, "image/webp", webp.clone()).await;

    assert_eq!(as_webp.status, StatusCode::OK, "{}", as_webp.text());
    let fetched = app.get(&format!("/products/{id}/image")).send().await;
    assert_eq!(fetched.header("content-type"), Some("image/webp"));
    assert_eq!(fetched.body.as_ref(), webp.as_slice());
}

#[tokio::test]
async fn a_text_file_that_claims_to_be_a_png_is_415_and_stores_nothing() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;

    let response = put_image(
        &app,
        Some(&seller),
        &id,
        "image/png",
        b"just some text, honestly".to_vec(),
    )
    .await;

    response.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    assert_eq!(app.db.count(FILES, doc! {}).await, 0);
    let product = app.get(&format!("/products/{id}")).send().await.json();
    assert_eq!(product["image_url"], json!(null));
}

#[tokio::test]
async fn a_type_other_than_png_jpeg_or_webp_is_415() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;

    for content_type in ["image/gif", "application/octet-stream", "application/json"] {
        let response = put_image(&app, Some(&seller), &id, content_type, png(100, 0)).await;
        response.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    }
    let missing = app
        .request(Method::PUT, &format!("/products/{id}/image"))
        .bearer(&seller.token)
        .body(png(100, 0))
        .send()
        .await;
    missing.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    // The bytes of another accepted format are refused too.
    let jpeg_as_png = put_image(
        &app,
        Some(&seller),
        &id,
        "image/png",
        b"\xff\xd8\xff".to_vec(),
    );
    jpeg_as_png
        .await
        .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
}

#[tokio::test]
async fn an_image_of_exactly_2_mib_is_accepted_and_one_byte_more_is_413() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;

    let too_large = put_image(
        &app,
        Some(&seller),
        &id,
        "image/png",
        png(MAX_IMAGE_BYTES + 1, 0),
    );
    let too_large = too_large.await;
    let largest = put_image(
        &app,
        Some(&seller),
        &id,
        "image/png",
        png(MAX_IMAGE_BYTES, 0),
    )
    .await;

    too_large.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
    assert_eq!(largest.status, StatusCode::OK, "{}", largest.text());
    let fetched = app.get(&format!("/products/{id}/image")).send().await;
    assert_eq!(fetched.body.len(), MAX_IMAGE_BYTES);
    assert_eq!(app.db.count(FILES, doc! {}).await, 1);
}

#[tokio::test]
async fn other_routes_keep_the_64_kib_body_limit() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;
    let description = "x".repeat(70 * 1024);

    let response = app
        .patch(&format!("/products/{id}"))
        .bearer(&seller.token)
        .json(&json!({ "description": description }))
        .send()
        .await;

    response.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn an_empty_body_is_422() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;

    let response = put_image(&app, Some(&seller), &id, "image/png", Vec::new()).await;

    assert_eq!(response.assert_validation_error(), [json!(["body"])]);
    assert_eq!(app.db.count(FILES, doc! {}).await, 0);
}

#[tokio::test]
async fn only_the_owner_or_an_admin_may_upload() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;

    let (stranger, buyer, admin) = (
        app.caller(Role::Seller),
        app.caller(Role::Buyer),
        app.caller(Role::Admin),
    );

    let other_seller = put_image(&app, Some(&stranger), &id, "image/png", png(64, 0)).await;
    let buyer = put_image(&app, Some(&buyer), &id, "image/png", png(64, 0)).await;
    let anonymous = put_image(&app, None, &id, "image/png", png(64, 0)).await;
    let admin = put_image(&app, Some(&admin), &id, "image/png", png(64, 0)).await;

    other_seller.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    buyer.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    anonymous.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.text());
    assert_eq!(app.db.count(FILES, doc! {}).await, 1);
}

#[tokio::test]
async fn a_malformed_id_is_400_and_an_unknown_product_404() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);

    let malformed = put_image(&app, Some(&admin), "nope", "image/png", png(64, 0)).await;
    let unknown = put_image(&app, Some(&admin), UNKNOWN_ID, "image/png", png(64, 0)).await;
    let get_malformed = app.get("/products/nope/image").send().await;
    let get_unknown = app
        .get(&format!("/products/{UNKNOWN_ID}/image"))
        .send()
        .await;
    let delete_unknown = app
        .delete(&format!("/products/{UNKNOWN_ID}/image"))
        .bearer(&admin.token)
        .send()
        .await;

    malformed.assert_error(StatusCode::BAD_REQUEST, "INVALID_ID");
    unknown.assert_error(StatusCode::NOT_FOUND, "PRODUCT_NOT_FOUND");
    get_malformed.assert_error(StatusCode::BAD_REQUEST, "INVALID_ID");
    get_unknown.assert_error(StatusCode::NOT_FOUND, "PRODUCT_NOT_FOUND");
    delete_unknown.assert_error(StatusCode::NOT_FOUND, "PRODUCT_NOT_FOUND");
    assert_eq!(app.db.count(FILES, doc! {}).await, 0);
}

#[tokio::test]
async fn a_product_without_an_image_has_a_null_url_and_its_image_is_404() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let created = app
        .create_product(&seller, json!({"name": "Lamp", "price": 1}))
        .await;
    let id = created["id"].as_str().unwrap();

    let image = app.get(&format!("/products/{id}/image")).send().await;

    assert_eq!(created["image_url"], json!(null));
    image.assert_error(StatusCode::NOT_FOUND, "IMAGE_NOT_FOUND");
}

#[tokio::test]
async fn replacing_an_image_leaves_exactly_one_file_and_the_old_bytes_are_gone() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;
    let first = put_image(&app, Some(&seller), &id, "image/png", png(300_000, 1)).await;
    let old_file = app
        .db
        .db
        .collection::<Document>(FILES)
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap()
        .get_object_id("_id")
        .unwrap();
    let new_bytes = png(1000, 2);

    let second = put_image(&app, Some(&seller), &id, "image/png", new_bytes.clone()).await;

    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    assert_ne!(first.json()["image_url"], second.json()["image_url"]);
    assert_eq!(app.db.count(FILES, doc! {}).await, 1);
    assert_eq!(app.db.count(FILES, doc! {"_id": old_file}).await, 0);
    assert_eq!(app.db.count(CHUNKS, doc! {"files_id": old_file}).await, 0);
    let fetched = app.get(&format!("/products/{id}/image")).send().await;
    assert_eq!(fetched.body.as_ref(), new_bytes.as_slice());
}

#[tokio::test]
async fn concurrent_replacements_leave_one_file() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;

    let uploads =
        (0..6).map(|seed| put_image(&app, Some(&seller), &id, "image/png", png(2000, seed)));
    let responses = futures_util::future::join_all(uploads).await;

    assert!(responses.iter().all(|r| r.status == StatusCode::OK));
    assert_eq!(app.db.count(FILES, doc! {}).await, 1);
    let fetched = app.get(&format!("/products/{id}/image")).send().await;
    assert_eq!(fetched.status, StatusCode::OK);
}

#[tokio::test]
async fn deleting_the_product_deletes_its_image_file() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;
    put_image(&app, Some(&seller), &id, "image/png", png(400_000, 3)).await;
    assert_eq!(app.db.count(FILES, doc! {}).await, 1);

    let deleted = app
        .delete(&format!("/products/{id}"))
        .bearer(&seller.token)
        .send()
        .await;

    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(app.db.count(FILES, doc! {}).await, 0);
    assert_eq!(app.db.count(CHUNKS, doc! {}).await, 0);
}

#[tokio::test]
async fn a_matching_if_none_match_is_304_without_a_body() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;
    put_image(&app, Some(&seller), &id, "image/png", png(800, 4)).await;
    let uri = format!("/products/{id}/image");
    let etag = app
        .get(&uri)
        .send()
        .await
        .header("etag")
        .unwrap()
        .to_owned();

    let same = app.get(&uri).header("if-none-match", &etag).send().await;
    let weak = app
        .get(&uri)
        .header("if-none-match", format!("\"other\", W/{etag}"))
        .send()
        .await;
    let stale = app
        .get(&uri)
        .header("if-none-match", "\"other\"")
        .send()
        .await;

    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    assert!(same.body.is_empty());
    assert_eq!(same.header("etag"), Some(etag.as_str()));
    assert_eq!(same.header("cache-control"), Some("public, no-cache"));
    assert_eq!(weak.status, StatusCode::NOT_MODIFIED);
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(stale.body.len(), 800);
}

#[tokio::test]
async fn the_owner_deletes_the_image_and_then_it_is_404() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;
    put_image(&app, Some(&seller), &id, "image/png", png(800, 5)).await;
    let uri = format!("/products/{id}/image");

    let stranger = app
        .delete(&uri)
        .bearer(&app.caller(Role::Seller).token)
        .send()
        .await;
    let buyer = app
        .delete(&uri)
        .bearer(&app.caller(Role::Buyer).token)
        .send()
        .await;
    let anonymous = app.delete(&uri).send().await;
    let deleted = app.delete(&uri).bearer(&seller.token).send().await;
    let again = app.delete(&uri).bearer(&seller.token).send().await;

    stranger.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    buyer.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    anonymous.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    // Removing an image that is already gone is done, not an error (DELETE is idempotent).
    assert_eq!(again.status, StatusCode::NO_CONTENT, "{}", again.text());
    app.get(&uri)
        .send()
        .await
        .assert_error(StatusCode::NOT_FOUND, "IMAGE_NOT_FOUND");
    assert_eq!(app.db.count(FILES, doc! {}).await, 0);
    let product = app.get(&format!("/products/{id}")).send().await.json();
    assert_eq!(product["image_url"], json!(null));
}

#[tokio::test]
async fn every_product_response_carries_the_image_url() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;
    let url = put_image(&app, Some(&seller), &id, "image/png", png(100, 6))
        .await
        .json()["image_url"]
        .clone();
    assert!(url.is_string());

    let got = app.get(&format!("/products/{id}")).send().await.json();
    let listed = app.get("/products").send().await.json();
    let patched = app
        .patch(&format!("/products/{id}"))
        .bearer(&seller.token)
        .json(&json!({"price": 2}))
        .send()
        .await
        .json();
    let stocked = app
        .post(&format!("/products/{id}/stock"))
        .bearer(&seller.token)
        .json(&json!({"delta": 1}))
        .send()
        .await
        .json();
    let inventory = app
        .get("/inventory?below=10")
        .bearer(&seller.token)
        .send()
        .await
        .json();

    assert_eq!(got["image_url"], url);
    assert_eq!(listed[0]["image_url"], url);
    assert_eq!(patched["image_url"], url);
    assert_eq!(stocked["image_url"], url);
    assert_eq!(inventory[0]["image_url"], url);
}

/// The image files of `app`'s database, and the images whose sweep the tests run by hand.
fn sweeper(app: &TestApp) -> (ImageFiles, Images) {
    let files = ImageFiles::new(&app.db.db);
    let images = Images::new(files.clone(), ProductStore::new(&app.db.db), 1);
    (files, images)
}

#[tokio::test]
async fn the_sweep_removes_old_unreferenced_files_and_keeps_the_rest() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;
    put_image(&app, Some(&seller), &id, "image/png", png(500, 7)).await;
    let (files, store) = sweeper(&app);
    // As a crash between upload and swap would leave them: files no product references.
    let orphan = files
        .upload(ObjectId::new(), ImageFormat::Png.mime(), &png(500, 8))
        .await
        .unwrap();
    let an_hour_ago = DateTime::from_millis(DateTime::now().timestamp_millis() - 3_600_000);
    app.db
        .db
        .collection::<Document>(FILES)
        .update_many(doc! {}, doc! {"$set": {"uploadDate": an_hour_ago}})
        .await
        .unwrap();
    let young = files
        .upload(ObjectId::new(), ImageFormat::Png.mime(), &png(500, 9))
        .await
        .unwrap();
    let cutoff = DateTime::from_millis(
        DateTime::now().timestamp_millis() - Duration::from_secs(300).as_millis() as i64,
    );

    let swept = store.sweep(cutoff).await.unwrap();

    assert_eq!((swept.files, swept.partial_uploads), (1, 0));
    assert_eq!(app.db.count(FILES, doc! {"_id": orphan.file_id}).await, 0);
    assert_eq!(
        app.db
            .count(CHUNKS, doc! {"files_id": orphan.file_id})
            .await,
        0
    );
    assert_eq!(app.db.count(FILES, doc! {"_id": young.file_id}).await, 1);
    assert_eq!(app.db.count(FILES, doc! {}).await, 2);
    let fetched = app.get(&format!("/products/{id}/image")).send().await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body.len(), 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_ending_in_what_looks_like_a_refusal_is_served_byte_for_byte() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;
    // Bodies go out in 64 KiB writes: this length leaves the last 37 bytes, a head shaped like
    // one of hyper's own refusals, alone in the last write.
    let fake_head = b"HTTP/1.1 400 X\r\ncontent-length: 0\r\n\r\n";
    let mut bytes = png(7 * 65_536, 3);
    bytes.extend_from_slice(fake_head);
    assert_eq!(bytes.len(), 7 * 65_536 + 37);
    let uploaded = put_image(&app, Some(&seller), &id, "image/png", bytes.clone()).await;
    assert_eq!(uploaded.status, StatusCode::OK, "{}", uploaded.text());
    let service = common_testing::ServiceProcess::start(
        env!("CARGO_BIN_EXE_product-service"),
        &app.db.config,
        &[],
    )
    .await;

    let served = common_testing::http(
        service.address,
        Method::GET,
        &format!("/products/{id}/image"),
        &[],
        None,
    )
    .await
    .unwrap();

    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(
        served.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    // Read to the end of the connection: not one byte more than the image.
    assert_eq!(served.body.len(), bytes.len());
    assert!(
        served.body == bytes,
        "the served bytes differ from the upload"
    );
}

/// An ObjectId made `ago` before now, as an upload started then would have been given.
fn id_made_ago(ago: Duration) -> ObjectId {
    let mut bytes = ObjectId::new().bytes();
    let seconds = (DateTime::now().timestamp_millis() / 1000) as u32 - ago.as_secs() as u32;
    bytes[..4].copy_from_slice(&seconds.to_be_bytes());
    ObjectId::from_bytes(bytes)
}

/// Chunks 0 and 1 of an upload of `files_id` that never got its file document, as a process
/// killed midway leaves them.
async fn partial_upload(app: &TestApp, files_id: ObjectId) {
    let chunk = |n: i32| {
        doc! { "files_id": files_id, "n": n, "data": mongodb::bson::Binary {
        subtype: mongodb::bson::spec::BinarySubtype::Generic, bytes: vec![n as u8; 1024] } }
    };
    app.db
        .db
        .collection::<Document>(CHUNKS)
        .insert_many([chunk(0), chunk(1)])
        .await
        .unwrap();
}

#[tokio::test]
async fn the_sweep_removes_the_chunks_of_an_upload_cut_off_midway() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;
    let stored = put_image(&app, Some(&seller), &id, "image/png", png(300_000, 4)).await;
    assert_eq!(stored.status, StatusCode::OK);
    let (old, recent) = (
        id_made_ago(Duration::from_secs(2 * 3600)),
        id_made_ago(Duration::from_secs(10)),
    );
    partial_upload(&app, old).await;
    partial_upload(&app, recent).await;
    let chunks_before = app.db.count(CHUNKS, doc! {}).await;
    let (_, store) = sweeper(&app);
    let cutoff = common_api::time::minus(DateTime::now(), Duration::from_secs(300));

    let swept = store.sweep(cutoff).await.unwrap();
    let again = store.sweep(cutoff).await.unwrap();

    assert_eq!((swept.files, swept.partial_uploads), (0, 1));
    assert_eq!((again.files, again.partial_uploads), (0, 0));
    assert_eq!(app.db.count(CHUNKS, doc! {"files_id": old}).await, 0);
    assert_eq!(
        app.db.count(CHUNKS, doc! {"files_id": recent}).await,
        2,
        "an upload that may still be under way is left alone"
    );
    assert_eq!(app.db.count(CHUNKS, doc! {}).await, chunks_before - 2);
    let fetched = app.get(&format!("/products/{id}/image")).send().await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body.len(), 300_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_past_the_concurrent_upload_limit_is_503_overloaded() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = product(&app, &seller).await;
    let service = common_testing::ServiceProcess::start(
        env!("CARGO_BIN_EXE_product-service"),
        &app.db.config,
        &[("MAX_CONCURRENT_UPLOADS", "1")],
    )
    .await;
    let bearer = format!("Bearer {}", seller.token);
    // An upload whose body trickles in: it holds the only slot.
    let mut slow = tokio::net::TcpStream::connect(service.address)
        .await
        .unwrap();
    slow.write_all(
        format!(
            "PUT /products/{id}/image HTTP/1.1\r\nHost: test\r\nAuthorization: {bearer}\r\n\
             Content-Type: image/png\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    slow.write_all(&png(1000, 5)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let upload = |bytes: Vec<u8>| {
        let (bearer, path) = (bearer.clone(), format!("/products/{id}/image"));
        async move {
            let mut stream = tokio::net::TcpStream::connect(service.address)
                .await
                .unwrap();
            let head = format!(
                "PUT {path} HTTP/1.1\r\nHost: test\r\nAuthorization: {bearer}\r\n\
                 Content-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                bytes.len()
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            // The refusal may come before the body is sent: it is not waited for.
            let _ = stream.write_all(&bytes).await;
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer).await;
            String::from_utf8_lossy(&answer).into_owned()
        }
    };

    let refused = upload(png(2000, 6)).await;
    drop(slow);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let accepted = upload(png(2000, 6)).await;

    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.to_lowercase().contains("retry-after: 1"),
        "{refused}"
    );
    assert!(refused.contains("\"OVERLOADED\""), "{refused}");
    assert!(accepted.starts_with("HTTP/1.1 200"), "{accepted}");
}
