//! What the catalog read model reads of `products`: raw documents cut to the fields it keeps, and
//! a change stream of the events that can change them. A product marked deleted is left out of
//! the reads, and the update that marks it is in the stream (for the model to remove it).
//!
//! Raw (`RawDocumentBuf`, not `ProductDoc`), so that the model decodes only the fields it keeps
//! and skips a document written by hand that is not a product, instead of failing the whole
//! load or stream on it.

use common_catalog::{field, live};
use common_platform::events::{DELETED_AT, OUTBOX};
use mongodb::{
    Cursor,
    bson::{Bson, Document, RawDocumentBuf, doc, oid::ObjectId},
    change_stream::{ChangeStream, event::ChangeStreamEvent},
    error::{Error, ErrorKind},
};

use super::ProductStore;

/// The change events of `products`, with documents as raw BSON.
pub type ChangeEvents = ChangeStream<ChangeStreamEvent<RawDocumentBuf>>;

/// How the changes of `products` can be followed.
pub enum Watch {
    /// A change stream (replica sets).
    Stream(Box<ChangeEvents>),
    /// None: the server has no change streams (a standalone server).
    Unsupported,
}

/// The server's answer to `$changeStream` on a standalone server.
const CHANGE_STREAMS_UNSUPPORTED: i32 = 40573;

impl ProductStore {
    /// A change stream of the events that can change `fields`: every insert, replace, delete and
    /// invalidation, and the updates that set or remove one of them or mark the product deleted
    /// (the server leaves out the rest, such as the order service's holds and the relay taking
    /// events off the outbox). Full documents come without the fields no list reads: the
    /// description, the image, the order service's bookkeeping and the outbox.
    pub async fn watch(&self, fields: &[&str]) -> Result<Watch, Error> {
        let mut touches: Vec<Document> = vec![doc! { "operationType": { "$ne": "update" } }];
        touches.extend(fields.iter().chain(&[DELETED_AT]).map(|name| {
            doc! { format!("updateDescription.updatedFields.{name}"): { "$exists": true } }
        }));
        touches.push(doc! { "updateDescription.removedFields": { "$in": fields.to_vec() } });
        let pipeline = [
            doc! { "$match": { "$or": touches } },
            doc! { "$project": {
                format!("fullDocument.{}", field::DESCRIPTION): 0,
                format!("fullDocument.{}", field::HOLDS): 0,
                format!("fullDocument.{}", field::RETURNS): 0,
                format!("fullDocument.{}", field::IMAGE): 0,
                format!("fullDocument.{OUTBOX}"): 0,
            } },
        ];
        match self.raw().watch().pipeline(pipeline).await {
            Ok(stream) => Ok(Watch::Stream(Box::new(stream))),
            Err(err) if server_code(&err) == Some(CHANGE_STREAMS_UNSUPPORTED) => {
                Ok(Watch::Unsupported)
            }
            Err(err) => Err(err),
        }
    }

    /// About how many products there are (from the collection's metadata; 0 if unknown), to
    /// size the model before a load.
    pub async fn estimated_count(&self) -> u64 {
        self.products.estimated_document_count().await.unwrap_or(0)
    }

    /// Every product with only `fields`, streamed in large batches.
    pub async fn all_raw(&self, fields: &[&str]) -> Result<Cursor<RawDocumentBuf>, Error> {
        self.raw()
            .find(live())
            .projection(projection(fields))
            .batch_size(10_000)
            .await
    }

    /// The products `ids` that exist, with only `fields`.
    pub async fn some_raw(
        &self,
        ids: &[ObjectId],
        fields: &[&str],
    ) -> Result<Cursor<RawDocumentBuf>, Error> {
        let mut filter = live();
        filter.insert(field::ID, doc! { "$in": ids });
        self.raw().find(filter).projection(projection(fields)).await
    }

    fn raw(&self) -> mongodb::Collection<RawDocumentBuf> {
        self.products.clone_with_type()
    }
}

fn projection(fields: &[&str]) -> Document {
    fields
        .iter()
        .map(|name| (name.to_string(), Bson::Int32(1)))
        .collect()
}

fn server_code(err: &Error) -> Option<i32> {
    match err.kind.as_ref() {
        ErrorKind::Command(command) => Some(command.code),
        _ => None,
    }
}
