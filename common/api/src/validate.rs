//! The [`Validate`] trait: checks of a deserialized request that its types cannot express.
//!
//! It lives apart from the extractors that call it ([`crate::extract`]), so a type that is
//! validated, such as [`crate::pagination::Page`], depends only on the error type and not on how
//! requests are read; that keeps the module graph free of cycles.

use crate::error::ApiResult;

/// Range and consistency checks that types alone cannot express.
pub trait Validate {
    /// `Ok` when the value is acceptable, otherwise a 422 listing every problem. Types whose
    /// deserialization already checks everything keep the default.
    fn validate(&self) -> ApiResult<()> {
        Ok(())
    }
}
