//! Mail through a real SMTP server (aiosmtpd, see [`SmtpServer`]): a registration's verification
//! link arrives once, from `MAIL_FROM`, with a token whose hash the account holds, also with two
//! replicas, across an SMTP outage and across a SIGKILL of the service; without `SMTP_URL` the
//! mail is only logged; an expired link is never sent; a bad `SMTP_URL` stops the binary.

use std::{
    collections::HashSet,
    io::Read,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use axum::http::{Method, StatusCode};
use common_testing::{ServiceProcess, SmtpServer, TEST_JWT_SECRET, TestDb, http, metric};
use mongodb::bson::{DateTime, Document, doc, oid::ObjectId};
use serde_json::json;
use user_service::mail::tokens;

use crate::helpers::{PASSWORD, TestApp, UserSteps, spawn_app, spawn_app_with};

/// The storefront the links open.
const BASE: &str = "http://shop.test";

/// The verification link, without its query.
const VERIFY_LINK: &str = "http://shop.test/verify-email.html";

/// The sender.
const FROM: &str = "Shop Test <shop@mail.test>";

/// How long a mail may take to arrive, or a mail document to reach a state.
const WAIT: Duration = Duration::from_secs(30);

/// How long to keep looking for a second copy after the first arrived: past two polls of every
/// replica's mailer.
const NO_MORE: Duration = Duration::from_millis(2500);

/// A user service in process, mailing through `smtp`.
async fn app_mailing_to(smtp: &SmtpServer) -> TestApp {
    let url = smtp.url();
    spawn_app_with(&[
        ("SMTP_URL", &url),
        ("MAIL_FROM", FROM),
        ("PUBLIC_BASE_URL", BASE),
    ])
    .await
}

/// The service's binary on `db`, mailing through `smtp`.
async fn process_mailing_to(smtp: &SmtpServer, db: &TestDb) -> ServiceProcess {
    let url = smtp.url();
    let env = [
        ("SMTP_URL", url.as_str()),
        ("MAIL_FROM", FROM),
        ("PUBLIC_BASE_URL", BASE),
        ("RATE_LIMIT_BURST", "100"),
    ];
    ServiceProcess::start(env!("CARGO_BIN_EXE_user-service"), &db.config, &env).await
}

/// `POST /users/register` with `email` to the process at `service`, asserting success.
async fn register_at(service: &ServiceProcess, email: &str) {
    let body = json!({"email": email, "password": PASSWORD});
    let answer = http(
        service.address,
        Method::POST,
        "/users/register",
        &[],
        Some(&body),
    )
    .await
    .unwrap();
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
}

/// The `mails` document matching `filter` once there is one; fails the test after [`WAIT`].
async fn mail_doc(db: &TestDb, filter: Document) -> Document {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = db.documents("mails", filter.clone()).await.pop() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no mail matched {filter} within {WAIT:?}: {:?}",
            db.documents("mails", doc! {}).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The hash of the verification token the account with `email` holds.
async fn verification_hash(db: &TestDb, email: &str) -> String {
    let account = db
        .documents("users", doc! { "email": email })
        .await
        .pop()
        .unwrap();
    account
        .get_document("verification")
        .unwrap()
        .get_str("hash")
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn registering_mails_a_verification_link_whose_token_the_account_holds_as_a_hash() {
    let smtp = SmtpServer::start().await;
    let app = app_mailing_to(&smtp).await;

    app.register("ada@example.com", "buyer").await;
    let mails = smtp.wait_for(1, WAIT).await;

    let mail = &mails[0];
    assert!(
        mail.from().contains("Shop Test") && mail.from().contains("<shop@mail.test>"),
        "{mail:?}"
    );
    assert!(
        mail.to().contains("Test User") && mail.to().contains("<ada@example.com>"),
        "{mail:?}"
    );
    assert_eq!(mail.header("X-RcptTo"), Some("ada@example.com"), "{mail:?}");
    assert_eq!(mail.subject(), "Confirm your email address");
    let token = mail
        .text_token(VERIFY_LINK)
        .expect("the text part has the link");
    assert_eq!(
        mail.html_token(VERIFY_LINK),
        Some(token.clone()),
        "{mail:?}"
    );
    assert_eq!(
        tokens::hash(&token),
        verification_hash(&app.db, "ada@example.com").await
    );
    let text = mail.text.as_deref().unwrap();
    assert!(text.contains("48 hours"), "{text}");
    let sent = mail_doc(&app.db, doc! { "status": "SENT" }).await;
    assert_eq!(sent.get_str("last_error").ok(), None);
    tokio::time::sleep(NO_MORE).await;
    assert_eq!(smtp.messages().len(), 1);
    let users = app
        .db
        .documents("users", doc! { "mail_outbox.0": { "$exists": true } })
        .await;
    assert!(
        users.is_empty(),
        "moved mails leave their account: {users:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_mail_each_registration_exactly_once() {
    let smtp = SmtpServer::start().await;
    let db = TestDb::new("user_service").await;
    let replicas = [
        process_mailing_to(&smtp, &db).await,
        process_mailing_to(&smtp, &db).await,
    ];
    let emails: Vec<String> = (0..6).map(|i| format!("user{i}@example.com")).collect();

    let registrations = emails
        .iter()
        .enumerate()
        .map(|(i, email)| register_at(&replicas[i % 2], email));
    futures_util::future::join_all(registrations).await;
    smtp.wait_for(emails.len(), WAIT).await;
    tokio::time::sleep(NO_MORE).await;

    let mails = smtp.messages();
    let recipients: HashSet<&str> = mails.iter().map(|mail| mail.to()).collect();
    assert_eq!(mails.len(), emails.len(), "{mails:#?}");
    assert_eq!(recipients, emails.iter().map(String::as_str).collect());
    let mut sent = 0.0;
    for replica in &replicas {
        let exposition = http(replica.address, Method::GET, "/metrics", &[], None)
            .await
            .unwrap()
            .text();
        sent += metric(
            &exposition,
            "mails_total",
            &[("kind", "verify_email"), ("outcome", "sent")],
        );
    }
    assert_eq!(sent, emails.len() as f64);
    assert_eq!(
        db.count("mails", doc! { "status": "SENT" }).await,
        emails.len() as u64
    );
}

#[tokio::test]
async fn a_mail_recorded_while_the_smtp_server_is_down_is_sent_once_it_is_back() {
    let mut smtp = SmtpServer::start().await;
    let app = app_mailing_to(&smtp).await;
    smtp.stop();

    // Answered while no mail can be sent: the request does not wait for it.
    app.register("ada@example.com", "buyer").await;
    let failed = mail_doc(
        &app.db,
        doc! { "status": "PENDING", "failures": { "$gte": 1 } },
    )
    .await;
    smtp.restart().await;
    let mails = smtp.wait_for(1, WAIT).await;

    assert!(failed.get_str("last_error").is_ok(), "{failed}");
    let token = mails[0].text_token(VERIFY_LINK).unwrap();
    assert_eq!(
        tokens::hash(&token),
        verification_hash(&app.db, "ada@example.com").await
    );
    mail_doc(&app.db, doc! { "status": "SENT" }).await;
    tokio::time::sleep(NO_MORE).await;
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_killed_right_after_registering_mails_the_link_once_restarted() {
    let smtp = SmtpServer::start().await;
    let db = TestDb::new("user_service").await;
    let mut service = process_mailing_to(&smtp, &db).await;

    register_at(&service, "ada@example.com").await;
    service.kill();
    service.restart().await;
    let mails = smtp.wait_for(1, WAIT).await;
    tokio::time::sleep(NO_MORE).await;

    assert_eq!(smtp.messages().len(), 1, "{mails:#?}");
    let token = mails[0].text_token(VERIFY_LINK).unwrap();
    assert_eq!(
        tokens::hash(&token),
        verification_hash(&db, "ada@example.com").await
    );
    assert_eq!(db.count("mails", doc! { "status": "SENT" }).await, 1);
}

#[tokio::test]
async fn without_an_smtp_url_each_mail_is_logged_and_none_is_sent() {
    let app = spawn_app().await;

    app.register("ada@example.com", "buyer").await;
    let logged = mail_doc(&app.db, doc! { "status": { "$ne": "PENDING" } }).await;

    assert_eq!(logged.get_str("status"), Ok("LOGGED"), "{logged}");
    assert_eq!(
        logged.get_i32("failures"),
        Ok(0),
        "no sending was attempted: {logged}"
    );
    assert!(logged.get_datetime("settled_at").is_ok(), "{logged}");
    let entry = logged.get_document("entry").unwrap();
    assert_eq!(entry.get_str("to"), Ok("ada@example.com"));
    assert_eq!(entry.get_str("kind"), Ok("verify_email"));
}

#[tokio::test]
async fn a_mail_whose_link_expired_before_it_could_be_sent_is_never_sent() {
    let smtp = SmtpServer::start().await;
    let app = app_mailing_to(&smtp).await;
    let user = app.register("ada@example.com", "buyer").await;
    smtp.wait_for(1, WAIT).await;
    let id = ObjectId::new();
    let past = DateTime::from_millis(DateTime::now().timestamp_millis() - 3_600_000);
    let user_id = ObjectId::parse_str(user["id"].as_str().unwrap()).unwrap();

    // Recorded an hour ago with a link that worked 30 minutes, as if the service had been down.
    let expired = doc! {
        "id": id, "kind": "password_reset", "user_id": user_id, "to": "ada@example.com",
        "name": "", "nonce": "n", "at": past,
        "expires_at": DateTime::from_millis(past.timestamp_millis() + 1_800_000),
    };
    app.db
        .db
        .collection::<Document>("users")
        .update_one(
            doc! { "_id": user_id },
            doc! { "$push": { "mail_outbox": expired } },
        )
        .await
        .unwrap();

    mail_doc(&app.db, doc! { "_id": id, "status": "EXPIRED" }).await;
    tokio::time::sleep(NO_MORE).await;
    assert_eq!(smtp.messages().len(), 1);
}

#[test]
fn an_smtp_url_of_another_scheme_stops_the_binary_naming_smtp_url() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_user-service"))
        .env_clear()
        .current_dir(std::env::temp_dir())
        .env("JWT_SECRET", TEST_JWT_SECRET)
        .env("SMTP_URL", "ftp://x")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the service did not refuse SMTP_URL=ftp://x within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();

    assert!(!status.success());
    assert!(stderr.contains("SMTP_URL is invalid"), "{stderr}");
    assert!(
        !stderr.contains("ftp://x"),
        "the URL, which may hold a password, is not shown: {stderr}"
    );
}
