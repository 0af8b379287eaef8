//! Where mails go: the SMTP server of `SMTP_URL` (its credentials replaced by `SMTP_USERNAME` and
//! `SMTP_PASSWORD` when those are set), or, without `SMTP_URL`, the log.

use std::time::Duration;

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::settings::MailSettings;

/// How long connecting and each SMTP command may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a whole send may take, connecting included.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// Why the mail settings cannot make a mailer (never showing the URL, which may hold a password).
/// [`MailSettings::read`] refuses such settings already: these only guard the mailer's own use.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Not a URL.
    #[error("SMTP_URL is not a URL")]
    NotAUrl,
    /// A URL lettre refuses (scheme, `tls` parameter, host).
    #[error("SMTP_URL is not an SMTP server's address: {0}")]
    Refused(lettre::transport::smtp::Error),
    /// `MAIL_FROM` is no mailbox.
    #[error("MAIL_FROM is not a mailbox")]
    MailFrom,
}

/// Where mails go.
#[derive(Clone)]
pub enum Transport {
    /// An SMTP server.
    Smtp(Smtp),
    /// The log: without `SMTP_URL` each mail is written there with its link.
    Log,
}

/// An SMTP server, with a connection per mail (mails are few, and a pooled connection may have
/// been dropped by the server meanwhile).
#[derive(Clone)]
pub struct Smtp(AsyncSmtpTransport<Tokio1Executor>);

impl Transport {
    /// The transport `settings` ask for. Connects to nothing yet.
    pub fn new(settings: &MailSettings) -> Result<Self, SetupError> {
        let Some(url) = &settings.smtp_url else {
            return Ok(Self::Log);
        };
        let mut url = url::Url::parse(url.expose()).map_err(|_| SetupError::NotAUrl)?;
        // Set into the URL, which lettre percent-decodes again: any character survives.
        if let Some(username) = &settings.smtp_username {
            url.set_username(username)
                .map_err(|()| SetupError::NotAUrl)?;
        }
        if let Some(password) = &settings.smtp_password {
            url.set_password(Some(password.expose()))
                .map_err(|()| SetupError::NotAUrl)?;
        }
        let smtp = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.as_str())
            .map_err(SetupError::Refused)?
            .timeout(Some(STEP_TIMEOUT))
            .build();
        Ok(Self::Smtp(Smtp(smtp)))
    }
}

impl Smtp {
    /// Hands `message` to the server, within [`SEND_TIMEOUT`]; why it was not accepted,
    /// otherwise.
    pub async fn send(&self, message: Message) -> Result<(), String> {
        match tokio::time::timeout(SEND_TIMEOUT, self.0.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("no answer within {SEND_TIMEOUT:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use common_api::secret::Secret;
    use common_platform::config::Env;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> MailSettings {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        MailSettings::read(&Env::new(move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        }))
        .unwrap()
    }

    #[test]
    fn without_an_smtp_url_mails_go_to_the_log() {
        assert!(matches!(
            Transport::new(&settings(&[])).unwrap(),
            Transport::Log
        ));
    }

    #[test]
    fn smtp_urls_with_tls_and_credentials_make_a_transport() {
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://mail.example.com:587?tls=required",
            "smtps://user:p%40ss@mail.example.com",
        ] {
            let transport = Transport::new(&settings(&[
                ("SMTP_URL", url),
                ("SMTP_USERNAME", "someone@example.com"),
                ("SMTP_PASSWORD", "a p@ss:word/"),
            ]));
            assert!(matches!(transport, Ok(Transport::Smtp(_))), "{url}");
        }
    }

    #[test]
    fn a_refused_url_is_not_shown_in_the_error() {
        // Settings refuse such a URL already; this is the mailer's own guard.
        let mut refused = settings(&[]);
        refused.smtp_url = Some(Secret::new("smtp://user:secret@host?tls=bogus"));

        let err = Transport::new(&refused).err().unwrap().to_string();

        assert!(err.starts_with("SMTP_URL"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }
}
