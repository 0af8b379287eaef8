//! The product service's own settings, read through the same lookup as the shared
//! [`Config`](common_platform::config::Config) (the process environment in the binary, a map in
//! tests), so a bad value stops the service with a message that names the variable.

use std::time::Duration;

use common_platform::config::{Config, ConfigError, Env, ServiceSettings};

use crate::products::{catalog::feed::DEFAULT_POLL_INTERVAL, images::DEFAULT_CONCURRENT_UPLOADS};

/// Settings of the product service beyond the shared ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductSettings {
    /// How often the catalog is reloaded where MongoDB has no change streams (a standalone
    /// server), and how often every instance reloads the categories and runs their upkeep;
    /// `CATALOG_POLL_SECS`, 1 to 3600, default 5.
    pub poll_interval: Duration,
    /// How many image uploads are received at once; `MAX_CONCURRENT_UPLOADS`, 1 to 1024, default
    /// [`DEFAULT_CONCURRENT_UPLOADS`].
    pub concurrent_uploads: usize,
}

impl Default for ProductSettings {
    fn default() -> Self {
        Self {
            poll_interval: DEFAULT_POLL_INTERVAL,
            concurrent_uploads: DEFAULT_CONCURRENT_UPLOADS,
        }
    }
}

impl ProductSettings {
    /// Reads the settings through `lookup`, so tests can supply their own values.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read_from(&Env::new(lookup))
    }

    fn read_from(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            poll_interval: Duration::from_secs(env.parse_in_range(
                "CATALOG_POLL_SECS",
                defaults.poll_interval.as_secs(),
                1..=3600,
            )?),
            concurrent_uploads: env.parse_in_range(
                "MAX_CONCURRENT_UPLOADS",
                defaults.concurrent_uploads,
                1..=1024,
            )?,
        })
    }
}

impl ServiceSettings for ProductSettings {
    fn read(_: &Config, env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        Self::read_from(env)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<ProductSettings, ConfigError> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        ProductSettings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn unset_settings_take_their_defaults() {
        assert_eq!(read(&[]).unwrap(), ProductSettings::default());
        assert_eq!(
            ProductSettings::default(),
            ProductSettings {
                poll_interval: Duration::from_secs(5),
                concurrent_uploads: 16,
            }
        );
    }

    #[test]
    fn settings_are_read_from_the_lookup() {
        let settings = read(&[("CATALOG_POLL_SECS", "30"), ("MAX_CONCURRENT_UPLOADS", "2")]);

        assert_eq!(
            settings.unwrap(),
            ProductSettings {
                poll_interval: Duration::from_secs(30),
                concurrent_uploads: 2,
            }
        );
    }

    #[test]
    fn a_value_out_of_range_or_malformed_names_its_variable() {
        for (name, value) in [
            ("CATALOG_POLL_SECS", "0"),
            ("CATALOG_POLL_SECS", "3601"),
            ("MAX_CONCURRENT_UPLOADS", "0"),
            ("MAX_CONCURRENT_UPLOADS", "1025"),
            ("MAX_CONCURRENT_UPLOADS", "many"),
        ] {
            let err = read(&[(name, value)]).unwrap_err();

            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
    }
}
