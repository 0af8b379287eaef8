//! The settings only the user service reads: refresh-token lifetime, bcrypt, per-client rate
//! limits and the trusted proxy header.
//!
//! They are read with [`Env`] through the same lookup as the shared
//! [`Config`](common_platform::config::Config): the process environment in [`crate::start`], a
//! test's own map in tests, so one override reaches both. Every value is checked as it is read,
//! and a bad one is refused with a message that names its variable.

use std::time::Duration;

use axum::http::HeaderName;
use common_api::secret::Secret;
use common_platform::config::{Config, ConfigError, Env, ServiceSettings};

use crate::mail::settings::MailSettings;

/// The most `TRUSTED_PROXY_HOPS` accepted: more proxies that append than any real chain has.
const MAX_TRUSTED_PROXY_HOPS: usize = 10;

/// The user service's own settings.
#[derive(Clone, Debug)]
pub struct UserSettings {
    /// `REFRESH_TOKEN_EXPIRE_DAYS`, default 7 (1–365).
    pub refresh_token_ttl: Duration,
    /// `BCRYPT_COST`, default 12 (4–31).
    pub bcrypt_cost: u32,
    /// `BCRYPT_QUEUE_WAIT_MS`, default 1000: how long a request waits for a free bcrypt slot
    /// before it is answered 503 `OVERLOADED`.
    pub bcrypt_queue_wait: Duration,
    /// `RATE_LIMIT_PER_MINUTE`, default 30: the sustained rate of login, register and refresh
    /// requests each client (IP address) may send.
    pub rate_limit_per_minute: u32,
    /// `RATE_LIMIT_BURST`, default 5: how many of those requests a client may send at once
    /// before the sustained rate applies.
    pub rate_limit_burst: u32,
    /// `TRUSTED_PROXY_HEADER`, unset by default: a header that the proxies in front of the service
    /// append to (such as `X-Forwarded-For`), whose entry [`UserSettings::trusted_proxy_hops`]
    /// from the right is the client's. Unset, the client is the peer address, and no header a
    /// client sends can change it.
    pub trusted_proxy_header: Option<HeaderName>,
    /// `TRUSTED_PROXY_HOPS`, default 1 (1–10): how many proxies in front of the service append to
    /// [`UserSettings::trusted_proxy_header`], so the client is that many entries from the right
    /// of the header's list (the leftmost entry when the list is shorter). Behind one proxy it is
    /// 1; behind a CDN whose edge address the last proxy appends too, 2. More than 1 without the
    /// header is refused, since it would silently do nothing.
    pub trusted_proxy_hops: usize,
    /// `ADMIN_EMAIL` and `ADMIN_PASSWORD`, both or neither: the admin account ensured at startup.
    pub admin: Option<AdminLogin>,
    /// `EMAIL_VERIFY_HOURS`, default 48 (1–720): how long a verification link works.
    pub email_verify_for: Duration,
    /// `PASSWORD_RESET_MINUTES`, default 30 (5–1440): how long a password-reset link works.
    pub password_reset_for: Duration,
    /// How mail is sent.
    pub mail: MailSettings,
}

/// The admin account the operator asks for.
#[derive(Clone, Debug)]
pub struct AdminLogin {
    /// `ADMIN_EMAIL`.
    pub email: String,
    /// `ADMIN_PASSWORD`, exactly as given: trimming a secret would make it another password.
    pub password: Secret,
}

impl UserSettings {
    /// Reads the settings through `lookup`, so tests can supply their own values.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read_from(&Env::new(lookup))
    }

    fn read_from(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        Ok(Self {
            refresh_token_ttl: Duration::from_secs(
                24 * 3600 * env.parse_in_range("REFRESH_TOKEN_EXPIRE_DAYS", 7, 1..=365)?,
            ),
            bcrypt_cost: env.parse_in_range("BCRYPT_COST", 12, 4..=31)?,
            bcrypt_queue_wait: Duration::from_millis(env.parse_in_range(
                "BCRYPT_QUEUE_WAIT_MS",
                1000,
                1..=60_000,
            )?),
            rate_limit_per_minute: env.parse_in_range(
                "RATE_LIMIT_PER_MINUTE",
                30,
                1..=1_000_000,
            )?,
            rate_limit_burst: env.parse_in_range("RATE_LIMIT_BURST", 5, 1..=1_000_000)?,
            trusted_proxy_header: trusted_proxy_header(env)?,
            trusted_proxy_hops: trusted_proxy_hops(env)?,
            admin: admin_login(env)?,
            email_verify_for: Duration::from_secs(
                3600 * env.parse_in_range("EMAIL_VERIFY_HOURS", 48, 1..=720)?,
            ),
            password_reset_for: Duration::from_secs(
                60 * env.parse_in_range("PASSWORD_RESET_MINUTES", 30, 5..=1440)?,
            ),
            mail: MailSettings::read(env)?,
        })
    }
}

impl ServiceSettings for UserSettings {
    fn read(_: &Config, env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        Self::read_from(env)
    }
}

fn admin_login(
    env: &Env<impl Fn(&str) -> Option<String>>,
) -> Result<Option<AdminLogin>, ConfigError> {
    match (env.string("ADMIN_EMAIL"), env.secret("ADMIN_PASSWORD")) {
        (Some(email), Some(password)) => Ok(Some(AdminLogin { email, password })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError::Missing {
            name: "ADMIN_PASSWORD",
            hint: "ADMIN_EMAIL is set; give both or neither",
        }),
        (None, Some(_)) => Err(ConfigError::Missing {
            name: "ADMIN_EMAIL",
            hint: "ADMIN_PASSWORD is set; give both or neither",
        }),
    }
}

fn trusted_proxy_header(
    env: &Env<impl Fn(&str) -> Option<String>>,
) -> Result<Option<HeaderName>, ConfigError> {
    env.string("TRUSTED_PROXY_HEADER")
        .map(|name| {
            HeaderName::try_from(name.as_str()).map_err(|_| {
                ConfigError::invalid(
                    "TRUSTED_PROXY_HEADER",
                    format!("`{name}` is not a header name such as X-Forwarded-For"),
                )
            })
        })
        .transpose()
}

fn trusted_proxy_hops(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<usize, ConfigError> {
    let hops = env.parse_in_range("TRUSTED_PROXY_HOPS", 1, 1..=MAX_TRUSTED_PROXY_HOPS)?;
    // Hops count entries of the trusted header; without one they would be ignored, and a
    // deployment that meant to look past a CDN would key every client by the peer address.
    if hops > 1 && env.string("TRUSTED_PROXY_HEADER").is_none() {
        return Err(ConfigError::invalid(
            "TRUSTED_PROXY_HOPS",
            format!("{hops} needs TRUSTED_PROXY_HEADER, the header those proxies append to"),
        ));
    }
    Ok(hops)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<UserSettings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        UserSettings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let settings = settings(&[]).unwrap();
        assert_eq!(
            settings.refresh_token_ttl,
            Duration::from_secs(7 * 24 * 3600)
        );
        assert_eq!(settings.bcrypt_cost, 12);
        assert_eq!(settings.rate_limit_per_minute, 30);
        assert_eq!(settings.rate_limit_burst, 5);
        assert_eq!(settings.trusted_proxy_header, None);
        assert_eq!(settings.trusted_proxy_hops, 1);
        assert_eq!(settings.bcrypt_queue_wait, Duration::from_secs(1));
    }

    #[test]
    fn a_trusted_proxy_header_is_read_case_insensitively() {
        let settings = settings(&[("TRUSTED_PROXY_HEADER", "X-Forwarded-For")]).unwrap();
        assert_eq!(
            settings.trusted_proxy_header,
            Some(HeaderName::from_static("x-forwarded-for"))
        );
    }

    #[test]
    fn trusted_proxy_hops_are_read_with_their_header() {
        let hops = |value: &str| {
            settings(&[
                ("TRUSTED_PROXY_HEADER", "X-Forwarded-For"),
                ("TRUSTED_PROXY_HOPS", value),
            ])
        };

        assert_eq!(hops("2").unwrap().trusted_proxy_hops, 2);
        assert_eq!(hops(" 10 ").unwrap().trusted_proxy_hops, 10);
        for refused in ["0", "11", "-1", "two"] {
            let err = hops(refused).unwrap_err().to_string();
            assert!(
                err.starts_with("TRUSTED_PROXY_HOPS is invalid"),
                "{refused}: {err}"
            );
        }
    }

    #[test]
    fn trusted_proxy_hops_past_one_without_a_header_are_refused() {
        let alone = |value: &str| settings(&[("TRUSTED_PROXY_HOPS", value)]);

        let err = alone("2").unwrap_err().to_string();

        assert!(
            err.starts_with("TRUSTED_PROXY_HOPS is invalid")
                && err.contains("TRUSTED_PROXY_HEADER"),
            "{err}"
        );
        // 1 is the default, which means the same with or without a header.
        assert_eq!(alone("1").unwrap().trusted_proxy_hops, 1);
    }

    #[test]
    fn the_admin_account_takes_both_its_email_and_its_password() {
        let admin = settings(&[
            ("ADMIN_EMAIL", " admin@example.com "),
            ("ADMIN_PASSWORD", " pw "),
        ])
        .unwrap()
        .admin
        .unwrap();
        assert_eq!(admin.email, "admin@example.com");
        // The password exactly as given, spaces included.
        assert_eq!(admin.password.expose(), " pw ");
        assert!(settings(&[]).unwrap().admin.is_none());

        for (given, missing) in [
            (("ADMIN_EMAIL", "admin@example.com"), "ADMIN_PASSWORD"),
            (("ADMIN_PASSWORD", "a password"), "ADMIN_EMAIL"),
        ] {
            let err = settings(&[given]).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{missing} is required")), "{err}");
        }
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("BCRYPT_COST", "3"),
            ("REFRESH_TOKEN_EXPIRE_DAYS", "-1"),
            ("RATE_LIMIT_PER_MINUTE", "0"),
            ("RATE_LIMIT_BURST", "0"),
            ("TRUSTED_PROXY_HEADER", "X Forwarded For"),
            ("TRUSTED_PROXY_HOPS", "0"),
            ("BCRYPT_QUEUE_WAIT_MS", "0"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{name} is invalid")), "{err}");
        }
    }
}
