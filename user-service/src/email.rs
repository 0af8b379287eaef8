//! The one spelling of an email under which an account is stored and looked up, so that one
//! mailbox is one account (the unique index on `users.email` compares these spellings).

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// Why an email has no normal form (and so can be no account's email).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailError {
    /// No `@`, or nothing before or after it.
    Malformed,
    /// A quoted local part (`"a"@example.com`).
    QuotedLocalPart,
    /// A local part with characters outside ASCII once normalised (`zoë@…`, a Cyrillic `а`).
    NonAsciiLocalPart,
    /// A domain that is not a valid internationalised host name.
    InvalidDomain,
}

impl fmt::Display for EmailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "Value is not a valid email address",
            Self::QuotedLocalPart => "Quoted local parts are not accepted in email addresses",
            Self::NonAsciiLocalPart => {
                "The part of the email address before @ must be ASCII characters"
            }
            Self::InvalidDomain => "The domain of the email address is not valid",
        })
    }
}

/// The normal form of `raw`: trimmed, Unicode NFKC, lowercased, the domain in its ASCII
/// (punycode) form per UTS 46 (`a@BÜCHER.example` → `a@xn--bcher-kva.example`).
///
/// NFKC folds compatibility forms onto their plain letters, so `ａｄｍｉｎ＠ｅxample.com`
/// (fullwidth) is `admin@example.com`, and mail to either reaches the same mailbox.
///
/// **Decision: the local part must be ASCII after NFKC**, otherwise the address is refused.
/// Lookalikes from other scripts (a Cyrillic `а` in `аdmin@…`) are technically a different
/// mailbox; accepting them would let someone register an account that reads exactly like the
/// admin's or another customer's. Addresses that really need a non-ASCII local part (SMTPUTF8)
/// are rare, many mail systems cannot deliver to them anyway, and refusing them is the safe
/// default for a shop; lifting the rule later needs no migration. Non-ASCII *domains* are
/// accepted, since their punycode form is unambiguous and what DNS and mail servers use.
///
/// Quoted local parts (`"a"@example.com`) are refused: they allow many spellings of one mailbox
/// and almost no real address uses them.
///
/// Emails stored before this rule were trimmed and lowercased ASCII, for which this function
/// changes nothing, so no migration is needed for them.
pub fn normalize_email(raw: &str) -> Result<String, EmailError> {
    let folded: String = raw.trim().nfkc().collect::<String>().to_lowercase();
    let (local, domain) = folded.rsplit_once('@').ok_or(EmailError::Malformed)?;
    if local.is_empty() || domain.is_empty() {
        return Err(EmailError::Malformed);
    }
    if local.contains('"') {
        return Err(EmailError::QuotedLocalPart);
    }
    if !local.is_ascii() {
        return Err(EmailError::NonAsciiLocalPart);
    }
    let domain = idna::domain_to_ascii_strict(domain).map_err(|_| EmailError::InvalidDomain)?;
    if domain.is_empty() {
        return Err(EmailError::InvalidDomain);
    }
    Ok(format!("{local}@{domain}"))
}

/// The key of the failed-login limit for what a client typed as its email: its normal form, or,
/// when it has none (and so is no account's), the same folding without the validity checks, so
/// that repeated guesses under one spelling are still counted together.
pub fn login_key(raw: &str) -> String {
    normalize_email(raw).unwrap_or_else(|_| raw.trim().nfkc().collect::<String>().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_one_mailbox_has_one_normal_form() {
        for spelling in [
            "a@example.com",
            "  A@Example.COM ",
            "a@ｅxample.com",
            "ａ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        ] {
            assert_eq!(
                normalize_email(spelling).unwrap(),
                "a@example.com",
                "{spelling}"
            );
        }
        for spelling in [
            "a@bücher.example",
            "A@BÜCHER.example",
            "a@xn--bcher-kva.example",
        ] {
            assert_eq!(
                normalize_email(spelling).unwrap(),
                "a@xn--bcher-kva.example",
                "{spelling}"
            );
        }
    }

    #[test]
    fn quoted_and_non_ascii_local_parts_are_refused() {
        assert_eq!(
            normalize_email("\"a\"@example.com"),
            Err(EmailError::QuotedLocalPart)
        );
        assert_eq!(
            normalize_email("\u{430}dmin@example.com"),
            Err(EmailError::NonAsciiLocalPart)
        );
        assert_eq!(normalize_email("example.com"), Err(EmailError::Malformed));
        assert_eq!(normalize_email("a@"), Err(EmailError::Malformed));
    }

    #[test]
    fn emails_already_stored_as_lowercase_ascii_are_unchanged() {
        for stored in ["ada@example.com", "ada.lovelace+shop@mail.example.co.uk"] {
            assert_eq!(normalize_email(stored).unwrap(), stored);
        }
    }

    #[test]
    fn a_login_key_exists_even_for_an_invalid_email() {
        assert_eq!(login_key(" \"A\"@Example.com"), "\"a\"@example.com");
        assert_eq!(login_key("ADA@example.com"), "ada@example.com");
    }
}
