//! The lookup settings are read through, the error that names the setting at fault, and the
//! description of every setting a service reads ([`Env::describing`]), which the binaries print
//! with `--settings` and the configuration reference is checked against.

use std::{cell::RefCell, fmt, str::FromStr};

use common_api::secret::Secret;
use serde::Serialize;

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

/// One setting as the code reads it: its name, its default and its range where it has them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SettingInfo {
    /// The environment variable.
    pub name: String,
    /// The value taken when it is unset, as text, when the code states one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The values accepted, `low..=high`, for a setting read with [`Env::parse_in_range`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    /// Whether the service refuses to start without it.
    pub required: bool,
}

/// Typed access to environment variables with errors that name the variable.
///
/// [`Config`](super::Config) reads the shared settings through it, and a service its own, from
/// the same lookup. Built with [`Env::describing`], it also writes down every setting read.
pub struct Env<F> {
    lookup: F,
    described: Option<RefCell<Vec<SettingInfo>>>,
}

/// What a required setting reads as while settings are only being described: long enough for
/// every check a required setting has (`JWT_SECRET`'s 32 bytes), and never served, since a
/// description ends the process.
const DESCRIBED_REQUIRED_VALUE: &str = "described-but-not-set-described-but-not-set";

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// Wraps a lookup function, usually `|name| std::env::var(name).ok()`.
    pub fn new(lookup: F) -> Self {
        Self {
            lookup,
            described: None,
        }
    }

    /// An `Env` that writes down each setting read, with its default and range, for
    /// [`Env::described`]. A required setting that `lookup` lacks reads as a placeholder, so that
    /// reading goes on past it and every setting is seen.
    pub fn describing(lookup: F) -> Self {
        Self {
            lookup,
            described: Some(RefCell::new(Vec::new())),
        }
    }

    /// The settings read so far, in the order first read (empty unless built with
    /// [`Env::describing`]).
    pub fn described(self) -> Vec<SettingInfo> {
        self.described.map(RefCell::into_inner).unwrap_or_default()
    }

    fn note(&self, name: &str, default: Option<String>, range: Option<String>, required: bool) {
        let Some(described) = &self.described else {
            return;
        };
        let mut described = described.borrow_mut();
        match described.iter_mut().find(|setting| setting.name == name) {
            Some(setting) => {
                setting.default = setting.default.take().or(default);
                setting.range = setting.range.take().or(range);
                setting.required |= required;
            }
            None => described.push(SettingInfo {
                name: name.to_owned(),
                default,
                range,
                required,
            }),
        }
    }

    fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// The trimmed value of `name`, or `None` when it is unset or blank.
    pub fn string(&self, name: &str) -> Option<String> {
        self.note(name, None, None, false);
        self.raw(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// The trimmed value of `name`, or `default` when it is unset or blank.
    pub fn string_or(&self, name: &str, default: &str) -> String {
        self.note(name, Some(default.to_owned()), None, false);
        self.string(name).unwrap_or_else(|| default.to_owned())
    }

    /// The trimmed value of `name`, which must be set: otherwise [`ConfigError::Missing`] with
    /// `hint`, which says how to choose a value.
    pub fn required(&self, name: &'static str, hint: &'static str) -> Result<String, ConfigError> {
        self.note(name, None, None, true);
        match self.string(name) {
            Some(value) => Ok(value),
            None if self.described.is_some() => Ok(DESCRIBED_REQUIRED_VALUE.to_owned()),
            None => Err(ConfigError::Missing { name, hint }),
        }
    }

    /// The value of `name` exactly as given, spaces included, or `None` when it is unset or
    /// empty; for secrets such as a password, where trimming would change what the operator set.
    /// Wrapped in [`Secret`], so it cannot end up in a log through `Debug`.
    pub fn secret(&self, name: &str) -> Option<Secret> {
        self.note(name, None, None, false);
        self.raw(name)
            .filter(|value| !value.is_empty())
            .map(Secret::new)
    }

    /// The value of `name` parsed as `T`, or `default` when it is unset.
    pub fn parse<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr + fmt::Display,
        T::Err: fmt::Display,
    {
        self.note(name, Some(default.to_string()), None, false);
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
        let bounds = format!("{}..={}", range.start(), range.end());
        self.note(name, None, Some(bounds.clone()), false);
        let value = self.parse(name, default)?;
        if !range.contains(&value) {
            return Err(ConfigError::invalid(
                name,
                format!("{value} is outside {bounds}"),
            ));
        }
        Ok(value)
    }
}
