//! What a mail says: its link, subject, and a text and an HTML body (every value interpolated
//! into the HTML escaped), built into a MIME message (multipart/alternative).

use common_api::time;
use lettre::{
    Message,
    address::AddressError,
    message::{Mailbox, MultiPart},
};

use super::{MailEntry, MailKind};

/// Why a mail could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The recipient's address is not one SMTP takes.
    #[error("the recipient's address cannot be sent to: {0}")]
    Address(#[from] AddressError),
    /// The message could not be assembled.
    #[error("the message cannot be built: {0}")]
    Message(#[from] lettre::error::Error),
}

/// The link a mail of `kind` carries, with `token`, on the storefront at `public_base_url`.
pub fn link(public_base_url: &str, kind: MailKind, token: &str) -> String {
    let page = match kind {
        MailKind::VerifyEmail => "verify-email.html",
        MailKind::PasswordReset => "reset-password.html",
    };
    format!("{public_base_url}/{page}?token={token}")
}

/// The subject of a mail of `kind`.
pub fn subject(kind: MailKind) -> &'static str {
    match kind {
        MailKind::VerifyEmail => "Confirm your email address",
        MailKind::PasswordReset => "Reset your password",
    }
}

/// The mail of `entry` with `link`, from `from`.
pub fn build(from: &Mailbox, entry: &MailEntry, link: &str) -> Result<Message, ComposeError> {
    let name = entry.name.trim();
    let to = Mailbox::new(
        (!name.is_empty()).then(|| name.to_owned()),
        entry.to.parse()?,
    );
    let (text, html) = bodies(entry, link);
    Ok(Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject(entry.kind))
        // One id per mail, so a receiver can recognise a copy sent again after a crash.
        .message_id(Some(format!(
            "<{}@{}>",
            entry.id.to_hex(),
            from.email.domain()
        )))
        .multipart(MultiPart::alternative_plain_html(text, html))?)
}

/// The text and the HTML body of the mail of `entry` with `link`.
pub fn bodies(entry: &MailEntry, link: &str) -> (String, String) {
    let name = entry.name.trim();
    let (ask, ignore) = match entry.kind {
        MailKind::VerifyEmail => (
            "Please confirm that {to} is your email address by opening this link:",
            "If you did not create an account with this address, ignore this mail.",
        ),
        MailKind::PasswordReset => (
            "Someone, hopefully you, asked to reset the password of the account {to}. \
             To choose a new password, open this link:",
            "If you did not ask for it, ignore this mail: your password stays as it is.",
        ),
    };
    let lasts = format!(
        "The link works once, for {}, until {}.",
        lifetime(entry),
        until(entry)
    );
    let greeting = |name: &str| {
        if name.is_empty() {
            "Hello,".to_owned()
        } else {
            format!("Hello {name},")
        }
    };
    let text = format!(
        "{}\n\n{}\n\n{link}\n\n{lasts} {ignore}\n",
        greeting(name),
        ask.replace("{to}", &entry.to),
    );
    let link = escape(link);
    let html = format!(
        "<!DOCTYPE html>\n<html><body>\n<p>{}</p>\n<p>{}</p>\n<p><a href=\"{link}\">{link}</a></p>\n\
         <p>{} {}</p>\n</body></html>\n",
        escape(&greeting(name)),
        escape(ask).replace("{to}", &escape(&entry.to)),
        escape(&lasts),
        escape(ignore),
    );
    (text, html)
}

/// How long the link of `entry` works, in words ("48 hours", "30 minutes").
fn lifetime(entry: &MailEntry) -> String {
    let minutes =
        (entry.expires_at.timestamp_millis() - entry.at.timestamp_millis()).max(0) / 60_000;
    let (count, unit) = if minutes >= 60 && minutes % 60 == 0 {
        (minutes / 60, "hour")
    } else {
        (minutes, "minute")
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

/// When the link of `entry` stops working, to the minute (`2026-11-23 13:45 UTC`).
fn until(entry: &MailEntry) -> String {
    let at = time::rfc3339(entry.expires_at);
    match at.split_once('T') {
        Some((day, clock)) => format!("{day} {} UTC", clock.get(..5).unwrap_or(clock)),
        None => at,
    }
}

/// `text` safe to place in HTML, in an element or a quoted attribute.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{DateTime, oid::ObjectId};

    use super::*;

    fn entry(kind: MailKind, name: &str, minutes: i64) -> MailEntry {
        let at = DateTime::from_millis(1_700_000_000_000);
        MailEntry {
            id: ObjectId::new(),
            kind,
            user_id: ObjectId::new(),
            to: "ada@example.com".to_owned(),
            name: name.to_owned(),
            nonce: "n".to_owned(),
            at,
            expires_at: DateTime::from_millis(at.timestamp_millis() + minutes * 60_000),
        }
    }

    #[test]
    fn links_open_the_storefront_page_of_their_kind() {
        assert_eq!(
            link("https://shop.test", MailKind::VerifyEmail, "abc"),
            "https://shop.test/verify-email.html?token=abc"
        );
        assert_eq!(
            link("https://shop.test", MailKind::PasswordReset, "abc"),
            "https://shop.test/reset-password.html?token=abc"
        );
    }

    #[test]
    fn both_bodies_carry_the_link_and_how_long_it_works() {
        let link = "https://shop.test/verify-email.html?token=abc";

        let (text, html) = bodies(&entry(MailKind::VerifyEmail, "Ada", 48 * 60), link);
        let (reset, _) = bodies(&entry(MailKind::PasswordReset, "", 30), link);

        assert!(text.starts_with("Hello Ada,"), "{text}");
        assert!(text.contains(&format!("\n{link}\n")), "{text}");
        assert!(
            text.contains("for 48 hours, until 2023-11-16 22:13 UTC"),
            "{text}"
        );
        assert!(
            html.contains(&format!("<a href=\"{link}\">{link}</a>")),
            "{html}"
        );
        assert!(html.contains("for 48 hours"), "{html}");
        assert!(reset.starts_with("Hello,\n"), "{reset}");
        assert!(reset.contains("for 30 minutes"), "{reset}");
    }

    #[test]
    fn what_the_html_interpolates_is_escaped() {
        let mut mail = entry(MailKind::VerifyEmail, "<b>Eve</b> & \"co\"", 60);
        mail.to = "o'hara@example.com".to_owned();

        let (text, html) = bodies(&mail, "https://shop.test/x?a=1&token=t");

        assert!(
            html.contains("Hello &lt;b&gt;Eve&lt;/b&gt; &amp; &quot;co&quot;,"),
            "{html}"
        );
        assert!(html.contains("o&#39;hara@example.com"), "{html}");
        assert!(
            html.contains("href=\"https://shop.test/x?a=1&amp;token=t\""),
            "{html}"
        );
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            text.contains("Hello <b>Eve</b>"),
            "the text part is not HTML: {text}"
        );
        assert!(text.contains("for 1 hour,"), "{text}");
    }

    #[test]
    fn a_message_is_addressed_with_the_name_when_there_is_one() {
        let from: Mailbox = "Shop <no-reply@shop.test>".parse().unwrap();
        let named = entry(MailKind::VerifyEmail, "Ada Lovelace", 60);
        let unnamed = entry(MailKind::PasswordReset, "", 60);

        let named =
            String::from_utf8(build(&from, &named, "https://l").unwrap().formatted()).unwrap();
        let unnamed =
            String::from_utf8(build(&from, &unnamed, "https://l").unwrap().formatted()).unwrap();

        assert!(
            named.contains("To: \"Ada Lovelace\" <ada@example.com>"),
            "{named}"
        );
        assert!(named.contains("From: Shop <no-reply@shop.test>"), "{named}");
        assert!(named.contains("multipart/alternative"), "{named}");
        assert!(named.contains("@shop.test>"), "{named}");
        assert!(unnamed.contains("To: ada@example.com"), "{unnamed}");
        assert!(
            unnamed.contains("Subject: Reset your password"),
            "{unnamed}"
        );
    }
}
