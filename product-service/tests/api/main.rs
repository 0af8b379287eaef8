//! Integration tests of the product service against a real MongoDB; one binary, one module per area.

mod helpers;

mod catalog;
mod categories;
mod category_admin;
mod category_races;
mod create;
mod docs;
mod events;
mod filters;
mod images;
mod inventory;
mod list;
mod money;
mod product;
mod revocation;
mod stock;
