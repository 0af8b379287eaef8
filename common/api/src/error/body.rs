//! The error bodies of the contract: `{detail, error_code}`, and the 422 list of invalid fields in
//! FastAPI's shape, with the [`Violations`] that validation collects into it.

use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, ApiResult};

/// The body of every error but 422.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"detail": "Order not found", "error_code": "ORDER_NOT_FOUND"}))]
pub struct ErrorBody {
    /// A sentence for humans.
    pub detail: String,
    /// A stable code for programs, in UPPER_SNAKE case.
    pub error_code: String,
}

/// The body of a 422, in FastAPI's shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationErrorBody {
    /// One entry per invalid field.
    pub detail: Vec<FieldError>,
    /// `VALIDATION_ERROR`, or a more specific code where a route documents one (e.g.
    /// `IDEMPOTENCY_KEY_REUSED`).
    pub error_code: String,
}

/// One invalid field: where it is, what is wrong, and a machine-readable kind.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct FieldError {
    /// The path to the field, e.g. `["body", "items", 0, "quantity"]`.
    pub loc: Vec<Loc>,
    /// What is wrong, for humans.
    pub msg: String,
    /// The kind of error, e.g. `missing` or `value_error`.
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    /// A field error at `loc`.
    pub fn new(
        loc: impl IntoIterator<Item = Loc>,
        msg: impl Into<String>,
        kind: impl Into<String>,
    ) -> Self {
        Self {
            loc: loc.into_iter().collect(),
            msg: msg.into(),
            kind: kind.into(),
        }
    }
}

/// One step of a [`FieldError`] location: a key or an array index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Loc {
    /// An object key, or `body`/`query` at the root.
    Key(String),
    /// An array index.
    Index(usize),
}

impl From<&str> for Loc {
    fn from(key: &str) -> Self {
        Self::Key(key.to_owned())
    }
}

impl From<usize> for Loc {
    fn from(index: usize) -> Self {
        Self::Index(index)
    }
}

/// Collects the field errors of one request, so a client learns of all of them at once.
#[derive(Debug)]
pub struct Violations {
    root: &'static str,
    errors: Vec<FieldError>,
}

impl Violations {
    /// Errors of the JSON body (`loc` starts with `body`).
    pub fn body() -> Self {
        Self {
            root: "body",
            errors: Vec::new(),
        }
    }

    /// Errors of the query string (`loc` starts with `query`).
    pub fn query() -> Self {
        Self {
            root: "query",
            errors: Vec::new(),
        }
    }

    /// Errors of request headers (`loc` starts with `header`).
    pub fn header() -> Self {
        Self {
            root: "header",
            errors: Vec::new(),
        }
    }

    /// Records an error of the top-level field `field`.
    pub fn add(&mut self, field: &str, msg: impl Into<String>, kind: &'static str) {
        self.add_at([Loc::from(field)], msg, kind);
    }

    /// Records an error at a nested path below the root.
    pub fn add_at(
        &mut self,
        path: impl IntoIterator<Item = Loc>,
        msg: impl Into<String>,
        kind: &'static str,
    ) {
        let loc = std::iter::once(Loc::from(self.root)).chain(path);
        self.errors.push(FieldError::new(loc, msg, kind));
    }

    /// `Ok` when nothing was recorded, otherwise a 422 with every error.
    pub fn finish(self) -> ApiResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}
