//! Database access of the order service: orders, the stock side of orders on products (holds
//! and return markers), and idempotency claims.

mod checkout;
mod claims;
mod inventory;
pub mod listing;
mod orders;

pub use checkout::{Payment, PaymentKind};
pub use claims::{Claim, ClaimDoc, ClaimId, Claims};
pub use inventory::{Inventory, Snapshot};
pub use orders::{Inserted, OrderDoc, OrderLine, OrderStore, StoredStatus};
