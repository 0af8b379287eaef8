//! Integration-test support, a dev-dependency of the services only.
//!
//! - [`TestDb`]: a fresh, uniquely named database on the test MongoDB (`MONGO_URI`, which
//!   `scripts/test.sh` points at a throwaway server), dropped when the test ends, so tests run in
//!   parallel without seeing each other's data.
//! - [`TestClient`]: drives a service's `app()` in process with `tower::ServiceExt::oneshot`.
//! - [`TestApp`]: a service under test, its state if the tests need one, and its [`TestDb`].
//! - [`Caller`]: a user id and an access token for it, from [`TestDb::caller`].
//! - [`Mongod`]: a private `mongod` (binary from `MONGOD_BIN`), standalone or a single-node replica
//!   set, that a test may stop and restart.
//! - [`ServiceProcess`]: a service's own binary on a free port, which a test may kill with SIGKILL
//!   and start again, and [`http`], one request to it over a real connection.
//! - [`TestDb::events`]: the events the test's changes recorded, in commit order, and
//!   [`TestDb::settled_events`], those of one resource once no more come.
//! - [`SmtpServer`]: a real SMTP server (aiosmtpd, `AIOSMTPD_PATH`) that a test may stop and
//!   restart, and the messages it received ([`ReceivedMail`]).
//! - [`assert_describes_itself`]: what a binary prints of itself (`--openapi`, `--settings`)
//!   checked against what it serves and against the configuration reference.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod app;
mod client;
mod db;
mod events;
mod metrics;
mod mongod;
mod openapi;
mod process;
mod revocation;
mod settings;
mod smtp;

pub use app::{TestApp, access_token};
pub use client::{TestClient, TestRequest, TestResponse};
pub use db::{Caller, TEST_JWT_SECRET, TestDb, test_config, test_lookup, test_mongo_uri};
pub use events::{StoredEvent, kinds};
pub use metrics::metric;
pub use mongod::Mongod;
pub use openapi::missing_shared_responses;
pub use process::{ServiceProcess, http, http_from};
pub use revocation::assert_refused_after_cutoff;
pub use settings::{assert_describes_itself, assert_settings_documented};
pub use smtp::{ReceivedMail, SmtpServer, link_token};
