//! How mail is sent: `SMTP_URL` and its credentials, `MAIL_FROM`, and `PUBLIC_BASE_URL`, which
//! the mails' links are built on.

use common_api::secret::Secret;
use common_platform::config::{ConfigError, Env};
use lettre::{AsyncSmtpTransport, Tokio1Executor, message::Mailbox};

/// Where the storefront is, by default: `scripts/run.sh` serves it there.
const DEFAULT_PUBLIC_BASE_URL: &str = "http://localhost:8080";

/// The sender, by default.
const DEFAULT_MAIL_FROM: &str = "Shop <no-reply@localhost>";

/// The mail settings.
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// `SMTP_URL` (`smtp://` or `smtps://host[:port]`, credentials allowed in it); unset, each
    /// mail is written to the log with its link instead of being sent.
    pub smtp_url: Option<Secret>,
    /// `SMTP_USERNAME`, instead of a user name in `SMTP_URL`.
    pub smtp_username: Option<String>,
    /// `SMTP_PASSWORD`, instead of a password in `SMTP_URL`.
    pub smtp_password: Option<Secret>,
    /// `MAIL_FROM`: the sender's mailbox (`Name <address>` or an address).
    pub from: String,
    /// `PUBLIC_BASE_URL`: the storefront's address, which the links open (without a trailing
    /// slash).
    pub public_base_url: String,
}

impl MailSettings {
    /// The settings read with `env`; an `SMTP_URL` that names no SMTP server, a `MAIL_FROM` that
    /// is no mailbox, or a `PUBLIC_BASE_URL` that is no http(s) address, is refused naming its
    /// variable.
    pub fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let smtp_url = env.secret("SMTP_URL");
        if let Some(url) = &smtp_url {
            let scheme = url.expose().split("://").next().unwrap_or_default();
            // Parsed as the mailer will parse it, so a URL it would refuse stops the service
            // now; the message never shows the URL, which may hold a password.
            if !url.expose().contains("://")
                || !["smtp", "smtps"].contains(&scheme)
                || AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose()).is_err()
            {
                return Err(ConfigError::invalid(
                    "SMTP_URL",
                    "must be smtp://host[:port] (STARTTLS with ?tls=required) or \
                     smtps://host[:port]",
                ));
            }
        }
        let from = env.string_or("MAIL_FROM", DEFAULT_MAIL_FROM);
        if from.parse::<Mailbox>().is_err() {
            return Err(ConfigError::invalid(
                "MAIL_FROM",
                format!("`{from}` is not a mailbox such as `Shop <no-reply@example.com>`"),
            ));
        }
        let public_base_url = env.string_or("PUBLIC_BASE_URL", DEFAULT_PUBLIC_BASE_URL);
        if !(public_base_url.starts_with("http://") || public_base_url.starts_with("https://")) {
            return Err(ConfigError::invalid(
                "PUBLIC_BASE_URL",
                format!("`{public_base_url}` is not an http:// or https:// address"),
            ));
        }
        Ok(Self {
            smtp_url,
            smtp_username: env.string("SMTP_USERNAME"),
            smtp_password: env.secret("SMTP_PASSWORD"),
            from,
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<MailSettings, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        MailSettings::read(&Env::new(move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        }))
    }

    #[test]
    fn defaults_log_mails_with_links_to_the_local_storefront() {
        let settings = read(&[]).unwrap();

        assert!(settings.smtp_url.is_none());
        assert_eq!(settings.from, DEFAULT_MAIL_FROM);
        assert_eq!(settings.public_base_url, DEFAULT_PUBLIC_BASE_URL);
        assert_eq!(
            read(&[("PUBLIC_BASE_URL", "https://shop.example/")])
                .unwrap()
                .public_base_url,
            "https://shop.example"
        );
    }

    #[test]
    fn bad_values_name_their_variable_and_never_show_a_password() {
        for (name, value) in [
            ("SMTP_URL", "ftp://x"),
            ("SMTP_URL", "mail.example.com"),
            ("SMTP_URL", "smtp://user:hunter2@mail.example.com?tls=maybe"),
            ("MAIL_FROM", "not a mailbox"),
            ("PUBLIC_BASE_URL", "shop.example"),
        ] {
            let err = read(&[(name, value)]).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{name} is invalid")), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://h:587?tls=required",
            "smtps://u:p@h",
        ] {
            assert!(read(&[("SMTP_URL", url)]).is_ok(), "{url}");
        }
    }
}
