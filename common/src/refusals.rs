//! The error body for refusals that never reach the router.
//!
//! hyper answers a request it cannot parse (a bare CR in a header, more headers than it allows,
//! headers larger than its buffer, an overlong URI) by itself, with an empty body, and closes the
//! connection. The contract wants every refusal in the error shape, so [`RefusalBodies`] wraps
//! each connection's stream and rewrites exactly those answers on their way out: a 400, 414 or 431
//! head with `content-length: 0` and no `x-request-id` (every answer of the router carries one,
//! and every error of the router has a body), into the same status with a JSON error body.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection's stream whose hyper-made refusals get the contract's error body.
#[derive(Debug)]
pub(crate) struct RefusalBodies<S> {
    inner: S,
    /// A rewritten refusal, and how much of it has been written.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> RefusalBodies<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

impl<S: AsyncWrite + Unpin> RefusalBodies<S> {
    /// Writes what is left of a rewritten refusal.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `buf` whole as a refusal to rewrite, if it is one.
    fn take_refusal(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Option<io::Result<usize>> {
        let rewritten = with_error_body(buf)?;
        self.pending = Some((rewritten, 0));
        // What cannot be written now is written by the flush or shutdown that follows.
        match self.poll_pending(cx) {
            Poll::Ready(Err(err)) => Some(Err(err)),
            _ => Some(Ok(buf.len())),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for RefusalBodies<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for RefusalBodies<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(result) = self.take_refusal(cx, buf) {
            return Poll::Ready(result);
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        // hyper writes a refusal as its head alone.
        if let [only] = bufs
            && let Some(result) = self.take_refusal(cx, only)
        {
            return Poll::Ready(result);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `head` with an error body, if it is one of hyper's own refusals.
fn with_error_body(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let head = text.strip_suffix("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let (code, detail) = match status_line.get(..12)? {
        "HTTP/1.1 400" | "HTTP/1.0 400" => (
            "BAD_REQUEST",
            "The request could not be parsed: its request line or headers are malformed",
        ),
        "HTTP/1.1 431" | "HTTP/1.0 431" => (
            "REQUEST_HEADER_FIELDS_TOO_LARGE",
            "The request has too many headers, or headers that are too large",
        ),
        "HTTP/1.1 414" | "HTTP/1.0 414" => ("URI_TOO_LONG", "The request's URI is too long"),
        _ => return None,
    };
    let headers: Vec<&str> = lines.collect();
    let is_hyper_refusal = headers
        .iter()
        .any(|line| line.eq_ignore_ascii_case("content-length: 0"))
        && !headers.iter().any(|line| {
            line.get(..13)
                .is_some_and(|name| name.eq_ignore_ascii_case("x-request-id:"))
        });
    if !is_hyper_refusal {
        return None;
    }
    let body = serde_json::json!({ "detail": detail, "error_code": code }).to_string();
    let mut rewritten = format!(
        "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for line in headers {
        let name = line.split(':').next().unwrap_or_default();
        if !name.eq_ignore_ascii_case("content-length") && !name.eq_ignore_ascii_case("connection")
        {
            rewritten.push_str(line);
            rewritten.push_str("\r\n");
        }
    }
    rewritten.push_str("\r\n");
    rewritten.push_str(&body);
    Some(rewritten.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_own_refusal_gets_an_error_body() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Mon, 23 Nov 2026 13:45:00 GMT\r\n\r\n";

        let rewritten = String::from_utf8(with_error_body(head).unwrap()).unwrap();

        let (head, body) = rewritten.split_once("\r\n\r\n").unwrap();
        assert_eq!(
            head,
            format!(
                "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\ndate: Mon, 23 Nov 2026 13:45:00 GMT",
                body.len()
            )
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error_code"], "REQUEST_HEADER_FIELDS_TOO_LARGE");
        assert!(body["detail"].as_str().unwrap().contains("headers"));
    }

    #[test]
    fn the_routers_answers_pass_unchanged() {
        for head in [
            // Every answer of the router carries a request id.
            &b"HTTP/1.1 400 Bad Request\r\nx-request-id: 1\r\ncontent-length: 0\r\n\r\n"[..],
            // A body follows.
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 52\r\n\r\n",
            // Not a refusal hyper makes.
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            // Not a whole head.
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            b"{\"detail\": \"HTTP/1.1 400\"}",
        ] {
            assert_eq!(
                with_error_body(head),
                None,
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }
}
