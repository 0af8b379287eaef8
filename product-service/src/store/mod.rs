//! Database access of the product service: one small store per collection it owns. Products
//! ([`ProductStore`], the only type that opens `products`), categories ([`CategoryStore`]) and
//! image files ([`ImageFiles`]). The flows that combine them live in [`crate::products`].

mod categories;
mod images;
mod products;

pub use self::{
    categories::{CATEGORIES, CategoryDoc, CategoryStore, Inserted, PendingRename, RenameStarted},
    images::{BUCKET, ImageFiles},
    products::{ChangeEvents, ProductChanges, ProductStore, Watch},
};
