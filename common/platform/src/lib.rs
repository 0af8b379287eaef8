//! The HTTP platform the three services run on: the configuration ([`config`]), the MongoDB
//! connection ([`db`]), the per-request database deadline and the gate that answers 503 at once
//! during an outage ([`deadline`]), the shared router with its layers, health and docs routes
//! ([`http`]), Prometheus metrics ([`metrics`]), logging and traces ([`telemetry`]) and the process
//! runner ([`server`]).
//!
//! It builds on the API conventions of `common-api` and knows nothing of any service: a service
//! describes itself ([`service::Service`]: name, port, CORS headers, OpenAPI document) and passes
//! in its own routes and settings.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod config;
pub mod db;
pub mod deadline;
pub mod events;
pub mod http;
pub mod metrics;
pub mod server;
pub mod service;
pub mod telemetry;
