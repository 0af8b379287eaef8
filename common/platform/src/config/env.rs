//! The lookup settings are read through, and the error that names the setting at fault.

use std::{fmt, str::FromStr};

use common_api::secret::Secret;

/// Why the configuration could not be built; the message names the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is required: {hint}")]
    Missing {
        name: &'static str,
        hint: &'static str,
    },
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl ConfigError {
    /// The setting `name` has a value that cannot be used, for `reason`.
    pub fn invalid(name: &'static str, reason: impl fmt::Display) -> Self {
        Self::Invalid {
            name,
            reason: reason.to_string(),
        }
    }
}

/// Typed access to environment variables with errors that name the variable.
///
/// [`Config`](super::Config) reads the shared settings through it, and a service its own, from
/// the same lookup.
pub struct Env<F> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// Wraps a lookup function, usually `|name| std::env::var(name).ok()`.
    pub fn new(lookup: F) -> Self {
        Self { lookup }
    }

    /// The trimmed value of `name`, or `None` when it is unset or blank.
    pub fn string(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// The value of `name` exactly as given, spaces included, or `None` when it is unset or
    /// empty; for secrets such as a password, where trimming would change what the operator set.
    /// Wrapped in [`Secret`], so it cannot end up in a log through `Debug`.
    pub fn secret(&self, name: &str) -> Option<Secret> {
        (self.lookup)(name)
            .filter(|value| !value.is_empty())
            .map(Secret::new)
    }

    /// The value of `name` parsed as `T`, or `default` when it is unset.
    pub fn parse<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.string(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|err| ConfigError::invalid(name, format!("`{raw}`: {err}"))),
        }
    }

    /// Like [`Env::parse`], and the value must lie in `range`.
    pub fn parse_in_range<T>(
        &self,
        name: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + fmt::Display,
        T::Err: fmt::Display,
    {
        let value = self.parse(name, default)?;
        if !range.contains(&value) {
            return Err(ConfigError::invalid(
                name,
                format!("{value} is outside {}..={}", range.start(), range.end()),
            ));
        }
        Ok(value)
    }
}
