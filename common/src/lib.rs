//! The foundation the services share: configuration, the MongoDB connection, the one error type,
//! request extractors, JWT auth, paging, telemetry, the shared HTTP layers and the process runner.
//! With the `testing` feature it also carries the integration-test support.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod catalog;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod http;
pub mod pagination;
pub mod server;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;

pub use error::{ApiError, ApiResult};
