//! A message as [`super::SmtpServer`] stored it, parsed enough for tests: header fields
//! (unfolded, not decoded), the first text/plain and text/html parts decoded from
//! quoted-printable or base64, and the `token` of a link in them.

use std::path::Path;

use base64::{Engine, engine::general_purpose::STANDARD};

/// A message as the server stored it.
#[derive(Clone, Debug, Default)]
pub struct ReceivedMail {
    /// Its header fields in order, unfolded (names as written).
    pub headers: Vec<(String, String)>,
    /// The first text/plain part, decoded.
    pub text: Option<String>,
    /// The first text/html part, decoded.
    pub html: Option<String>,
}

impl ReceivedMail {
    pub(super) fn read(path: &Path) -> Self {
        let raw = std::fs::read(path).expect("a received message is readable");
        let raw = String::from_utf8_lossy(&raw).replace("\r\n", "\n");
        let (headers, body) = split_headers(&raw);
        let mut mail = Self {
            headers,
            ..Self::default()
        };
        let headers = mail.headers.clone();
        mail.collect(&headers, body);
        mail
    }

    /// The value of header `name` (any case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// `From`.
    pub fn from(&self) -> &str {
        self.header("From").unwrap_or_default()
    }

    /// `To`.
    pub fn to(&self) -> &str {
        self.header("To").unwrap_or_default()
    }

    /// `Subject`.
    pub fn subject(&self) -> &str {
        self.header("Subject").unwrap_or_default()
    }

    /// The `token` query parameter of the first link to `link` (an address without its query,
    /// such as `http://shop.test/verify-email.html`) in the text part.
    pub fn text_token(&self, link: &str) -> Option<String> {
        link_token(self.text.as_deref()?, link)
    }

    /// As [`ReceivedMail::text_token`], in the HTML part.
    pub fn html_token(&self, link: &str) -> Option<String> {
        link_token(self.html.as_deref()?, link)
    }

    /// Files the decoded text parts of an entity with `headers` and `body`.
    fn collect(&mut self, headers: &[(String, String)], body: &str) {
        let content_type = header(headers, "Content-Type").unwrap_or("text/plain");
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime.starts_with("multipart/") {
            let Some(boundary) = parameter(content_type, "boundary") else {
                return;
            };
            for part in parts(body, &boundary) {
                let (part_headers, part_body) = split_headers(part);
                self.collect(&part_headers, part_body);
            }
            return;
        }
        let encoding = header(headers, "Content-Transfer-Encoding").unwrap_or("7bit");
        let decoded = decode(body, &encoding.trim().to_ascii_lowercase());
        match mime.as_str() {
            "text/plain" if self.text.is_none() => self.text = Some(decoded),
            "text/html" if self.html.is_none() => self.html = Some(decoded),
            _ => {}
        }
    }
}

/// The `token` query parameter of the first link to `link` in `body` (HTML entities in the query
/// undone).
pub fn link_token(body: &str, link: &str) -> Option<String> {
    let start = body.find(&format!("{link}?"))? + link.len() + 1;
    let query: String = body[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '<' | '>'))
        .collect();
    query
        .replace("&amp;", "&")
        .split('&')
        .find_map(|pair| pair.strip_prefix("token=").map(str::to_owned))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// The header fields (unfolded) and the body of an entity.
fn split_headers(entity: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = entity.split_once("\n\n").unwrap_or((entity, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    (headers, body)
}

/// The value of `name=` in a header value such as `multipart/alternative; boundary="x"`.
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// The body parts of a multipart body with `boundary`.
fn parts<'a>(body: &'a str, boundary: &str) -> Vec<&'a str> {
    let delimiter = format!("--{boundary}");
    body.split(&delimiter)
        .skip(1)
        .take_while(|part| !part.starts_with("--"))
        // The line break before a delimiter belongs to the delimiter.
        .map(|part| part.strip_prefix('\n').unwrap_or(part))
        .map(|part| part.strip_suffix('\n').unwrap_or(part))
        .collect()
}

/// `body` decoded from its transfer `encoding`, as UTF-8.
fn decode(body: &str, encoding: &str) -> String {
    let bytes = match encoding {
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            STANDARD.decode(compact).expect("a base64 part decodes")
        }
        "quoted-printable" => quoted_printable(body),
        _ => body.as_bytes().to_vec(),
    };
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Undoes quoted-printable: `=XX` escapes and `=` soft line breaks.
fn quoted_printable(body: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    for line in body.split('\n') {
        let line = line.trim_end_matches([' ', '\t']);
        let (line, soft) = match line.strip_suffix('=') {
            Some(line) => (line, true),
            None => (line, false),
        };
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let hex = (bytes[i] == b'=')
                .then(|| line.get(i + 1..i + 3))
                .flatten()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok());
            match hex {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        }
        if !soft {
            out.push(b'\n');
        }
    }
    out.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multipart_message_is_split_and_decoded() {
        let raw = "From: Shop <no-reply@shop.test>\nTo: \"Ada\" <ada@example.com>\nSubject: Hi\n \
                   there\nContent-Type: multipart/alternative;\n boundary=\"b1\"\n\n--b1\n\
                   Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: \
                   quoted-printable\n\nCaf=C3=A9 http://s/v.html?token=3Dabc_-1 and a long =\nline\n\
                   --b1\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: \
                   base64\n\nPGEgaHJlZj0iaHR0cDovL3Mvdi5odG1sP3g9MSZhbXA7dG9rZW49ZGVmIj5sPC9hPg==\n\
                   --b1--\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        std::fs::write(&path, raw).unwrap();

        let mail = ReceivedMail::read(&path);

        assert_eq!(mail.from(), "Shop <no-reply@shop.test>");
        assert_eq!(mail.to(), "\"Ada\" <ada@example.com>");
        assert_eq!(mail.subject(), "Hi there");
        assert_eq!(
            mail.text.as_deref(),
            Some("Café http://s/v.html?token=abc_-1 and a long line")
        );
        assert_eq!(
            mail.text_token("http://s/v.html").as_deref(),
            Some("abc_-1")
        );
        assert_eq!(mail.html_token("http://s/v.html").as_deref(), Some("def"));
        assert_eq!(mail.text_token("http://s/other.html"), None);
    }
}
