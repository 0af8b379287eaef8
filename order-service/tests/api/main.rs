//! Integration tests of the order service against a real MongoDB; one binary, one module per area.

mod helpers;
mod receiver;
mod scenarios;

mod cancel;
mod checkout;
mod combining;
mod concurrency;
mod docs;
mod events;
mod faults;
mod idempotency;
mod listing;
mod metrics;
mod money;
mod orders;
mod place;
mod recovery;
mod reorder;
mod revocation;
mod settings;
mod shipping;
mod standalone;
mod traces;
mod webhook_faults;
mod webhooks;
