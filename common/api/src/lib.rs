//! The API conventions the three services share, as the contract states them: the one error type
//! and its bodies ([`error`]), request extractors that answer bad input in the contract's shapes
//! ([`extract`], [`validate`]), exact money ([`money`]), paging ([`pagination`]), JWT auth and roles ([`auth`]), the error
//! responses routes share in their OpenAPI description ([`openapi`]), instants ([`time`]), secrets
//! kept out of logs ([`secret`]), and the clock of a request's database work ([`budget`]), which
//! body extraction pauses.
//!
//! It knows nothing of how the services are served (that is `common-platform`) nor of any
//! service.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod budget;
pub mod error;
pub mod extract;
pub mod money;
pub mod openapi;
pub mod pagination;
pub mod secret;
pub mod time;
pub mod validate;

pub use error::{ApiError, ApiResult};
