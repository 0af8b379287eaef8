//! The mailer: sends the mails recorded on the accounts, each once, and loses none.
//!
//! **Recording.** A write that issues a link token appends a [`MailEntry`](super::MailEntry) to
//! the account's `mail_outbox` in the same write (see [`super`]), then wakes the mailer
//! ([`MailerHandle::wake`]). Requests never wait for a mail to be sent.
//!
//! **Moving.** The mover reads the accounts that have entries (a partial index on
//! `mail_outbox.id` holds only those), inserts each entry into `mails` under the entry's id as
//! `_id`, and only then `$pull`s the moved entries from their accounts. A crash between the two
//! leaves the entries in place: the next pass, of any replica, inserts them again, the duplicate
//! key says they are there already, and it pulls them. So each entry becomes one mail.
//!
//! **Sending.** A mail is `PENDING` until the SMTP server accepts it (`SENT`), or it is written to
//! the log for want of `SMTP_URL` (`LOGGED`), or its link stops working before either (`EXPIRED`,
//! never sent). `next_attempt_at` is also its lease: a sender claims a due mail by moving it
//! forward by the send timeout and a margin in one conditional update, so one sender among all
//! replicas makes each attempt, and a replica killed mid-attempt leaves a claim that lapses, after
//! which the mail falls due again. A failed attempt is tried again after 1 s, doubling up to
//! 10 min (±20 %), for as long as the link works. The one way a mail goes out twice: a sender
//! killed after the server accepted it and before recording that, whose claim then lapses; the
//! copy has the same `Message-ID`.
//!
//! **Wake-ups.** The mover runs at once when a write here recorded a mail, the sender as soon as
//! the mover moved some; both also look every second, for mails recorded or left due by other
//! replicas, by a crash, or by a retry falling due. Settled mails are kept 7 days (a TTL index),
//! pending ones until settled.

use std::{sync::Arc, time::Duration};

use common_api::time;
use common_platform::server::Shutdown;
use futures_util::StreamExt;
use lettre::message::Mailbox;
use mongodb::{
    Database,
    bson::{DateTime, oid::ObjectId},
    error::Error,
};
use tokio::sync::Notify;

use super::{
    message,
    settings::MailSettings,
    store::{MailDoc, MailStatus, MailStore},
    tokens::LinkTokens,
    transport::{SEND_TIMEOUT, SetupError, Transport},
};

/// How often the mover and the sender look without being woken.
pub const POLL: Duration = Duration::from_secs(1);

/// A claim lasts the send timeout and this much more.
const CLAIM_MARGIN: Duration = Duration::from_secs(10);

/// The wait after a first failure; it doubles with each next one.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// How many accounts one move reads, and how many due mails one round reads.
const BATCH: i64 = 256;

/// How many mails one replica sends at once.
const AT_ONCE: usize = 8;

/// Moves recorded mails into `mails` and sends them.
#[derive(Clone)]
pub struct Mailer {
    store: MailStore,
    transport: Transport,
    from: Mailbox,
    public_base_url: String,
    links: LinkTokens,
    wake: Arc<Notify>,
    moved: Arc<Notify>,
}

/// Lets writers wake a [`Mailer`] after they recorded a mail.
#[derive(Clone)]
pub struct MailerHandle {
    wake: Arc<Notify>,
}

impl MailerHandle {
    /// Asks the mailer to move (and then send) now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

impl Mailer {
    /// A mailer over `db` as `settings` ask, writing links with `links`. Connects to nothing yet.
    pub fn new(
        db: &Database,
        settings: &MailSettings,
        links: LinkTokens,
    ) -> Result<Self, SetupError> {
        Ok(Self {
            store: MailStore::new(db),
            transport: Transport::new(settings)?,
            from: settings.from.parse().map_err(|_| SetupError::MailFrom)?,
            public_base_url: settings.public_base_url.clone(),
            links,
            wake: Arc::new(Notify::new()),
            moved: Arc::new(Notify::new()),
        })
    }

    /// A handle for writers.
    pub fn handle(&self) -> MailerHandle {
        MailerHandle {
            wake: Arc::clone(&self.wake),
        }
    }

    /// Creates the indexes the mailer relies on (no-ops when they exist).
    pub async fn ensure_indexes(&self) -> Result<(), Error> {
        self.store.ensure_indexes().await
    }

    /// Starts the mover and the sender, until `shutdown`.
    pub fn start(self, shutdown: Shutdown) {
        tokio::spawn(self.clone().move_loop(shutdown.clone()));
        tokio::spawn(self.send_loop(shutdown));
    }

    async fn move_loop(self, mut shutdown: Shutdown) {
        loop {
            loop {
                match self.store.move_recorded(BATCH).await {
                    Ok(0) => break,
                    Ok(accounts) => {
                        self.moved.notify_one();
                        if accounts < BATCH as usize {
                            break;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "moving recorded mails failed; retrying");
                        break;
                    }
                }
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                () = shutdown.signalled() => return,
            }
        }
    }

    async fn send_loop(self, mut shutdown: Shutdown) {
        loop {
            loop {
                match self.send_due().await {
                    Ok(due) if due == BATCH as usize => {}
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "reading due mails failed; retrying");
                        break;
                    }
                }
            }
            tokio::select! {
                () = self.moved.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                () = shutdown.signalled() => return,
            }
        }
    }

    /// Attempts up to [`BATCH`] due mails, [`AT_ONCE`] at a time; returns how many were due.
    async fn send_due(&self) -> Result<usize, Error> {
        let due = self.store.due(DateTime::now(), BATCH).await?;
        let count = due.len();
        futures_util::stream::iter(due)
            .for_each_concurrent(AT_ONCE, |id| async move {
                if let Err(err) = self.attempt(id).await {
                    tracing::warn!(error = %err, mail_id = %id, "a mail's attempt was not recorded; it falls due again");
                }
            })
            .await;
        Ok(count)
    }

    /// Claims mail `id` and, if this sender got it, attempts it and records the outcome.
    async fn attempt(&self, id: ObjectId) -> Result<(), Error> {
        let now = DateTime::now();
        let until = time::plus(now, SEND_TIMEOUT + CLAIM_MARGIN);
        let Some(mail) = self.store.claim(id, now, until).await? else {
            return Ok(());
        };
        let entry = &mail.entry;
        let kind = entry.kind.as_str();
        if entry.expires_at <= now {
            tracing::info!(mail_id = %id, kind, "mail expired before it could be sent");
            counted(kind, "expired");
            self.store.settle(id, until, MailStatus::Expired).await?;
            return Ok(());
        }
        let token = self.links.token(entry.kind, entry.user_id, &entry.nonce);
        let link = message::link(&self.public_base_url, entry.kind, &token);
        let Transport::Smtp(smtp) = &self.transport else {
            tracing::info!(mail_id = %id, kind, to = %entry.to, link = %link, "mail written to the log instead of sent (no SMTP_URL)");
            counted(kind, "logged");
            self.store.settle(id, until, MailStatus::Logged).await?;
            return Ok(());
        };
        let sent = match message::build(&self.from, entry, &link) {
            Ok(message) => smtp.send(message).await,
            Err(err) => Err(err.to_string()),
        };
        match sent {
            Ok(()) => {
                tracing::info!(mail_id = %id, kind, "mail sent");
                counted(kind, "sent");
                self.store.settle(id, until, MailStatus::Sent).await?;
            }
            Err(error) => {
                counted(kind, "failed");
                let next = time::plus(DateTime::now(), backoff(&mail)).min(entry.expires_at);
                tracing::warn!(
                    mail_id = %id, kind, failures = mail.failures + 1, error,
                    next_attempt_at = %time::rfc3339(next), "mail not sent; it will be tried again"
                );
                self.store.failed(id, until, &error, next).await?;
            }
        }
        Ok(())
    }
}

/// Counts an outcome of a mail of `kind` in `mails_total`.
fn counted(kind: &'static str, outcome: &'static str) {
    metrics::counter!("mails_total", "kind" => kind, "outcome" => outcome).increment(1);
}

/// The wait before the next attempt of `mail`, which has just failed once more: [`FIRST_BACKOFF`]
/// doubled with each earlier failure, ±20 %, at most [`MAX_BACKOFF`].
fn backoff(mail: &MailDoc) -> Duration {
    let doublings = u32::try_from(mail.failures).unwrap_or(0).min(20);
    let wait = FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF);
    let mut random = [0u8; 2];
    // Without randomness the wait is simply not jittered.
    let _ = getrandom::fill(&mut random);
    let jitter = 0.8 + 0.4 * f64::from(u16::from_le_bytes(random)) / f64::from(u16::MAX);
    wait.mul_f64(jitter).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::{MailEntry, MailKind};

    fn after_failures(failures: i32) -> Duration {
        let entry = MailEntry {
            id: ObjectId::new(),
            kind: MailKind::VerifyEmail,
            user_id: ObjectId::new(),
            to: "a@example.com".to_owned(),
            name: String::new(),
            nonce: "n".to_owned(),
            at: DateTime::now(),
            expires_at: DateTime::now(),
        };
        let mut mail = MailDoc::pending(entry, DateTime::now());
        mail.failures = failures;
        backoff(&mail)
    }

    #[test]
    fn the_wait_doubles_from_a_second_to_at_most_ten_minutes_with_jitter() {
        let within = |wait: Duration, secs: f64| {
            let ratio = wait.as_secs_f64() / secs;
            (0.8..=1.2).contains(&ratio)
        };

        assert!(within(after_failures(0), 1.0), "{:?}", after_failures(0));
        assert!(within(after_failures(1), 2.0), "{:?}", after_failures(1));
        assert!(within(after_failures(5), 32.0), "{:?}", after_failures(5));
        for failures in [10, 30, i32::MAX] {
            let wait = after_failures(failures);
            assert!(
                wait <= MAX_BACKOFF && wait >= MAX_BACKOFF.mul_f64(0.8),
                "{wait:?}"
            );
        }
    }
}
