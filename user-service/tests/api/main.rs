//! Integration tests of the user service against a real MongoDB; one binary, one module per area.

mod helpers;

mod accounts;
mod docs_and_health;
mod errors;
mod events;
mod links;
mod login;
mod mail;
mod mailbox;
mod metrics;
mod outage;
mod rate_limits;
mod register;
mod startup;
mod token;
mod tokens;
mod users;
