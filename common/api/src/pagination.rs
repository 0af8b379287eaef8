//! Paged lists: `limit`/`offset` from the query string, and a JSON array answered with
//! `X-Total-Count` and an RFC 8288 `Link` header pointing at the next and previous pages.

use axum::{
    Json,
    http::{HeaderName, HeaderValue, Uri, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::{error::Violations, validate::Validate};

/// The default page size.
pub const DEFAULT_LIMIT: i64 = 100;
/// The largest page size.
pub const MAX_LIMIT: i64 = 1000;

/// Which slice of a list to return.
#[derive(Clone, Copy, Debug, Deserialize, IntoParams, PartialEq, Eq)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// How many items to return, 1 to 1000 (default 100).
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 1000, default = 100)]
    pub limit: i64,
    /// How many items to skip (default 0).
    #[serde(default)]
    #[param(minimum = 0, default = 0)]
    pub offset: i64,
}

fn default_limit() -> i64 {
    DEFAULT_LIMIT
}

impl Validate for Page {
    fn validate(&self) -> crate::ApiResult<()> {
        let mut violations = Violations::query();
        if !(1..=MAX_LIMIT).contains(&self.limit) {
            violations.add(
                "limit",
                format!("Input should be between 1 and {MAX_LIMIT}"),
                "value_error",
            );
        }
        if self.offset < 0 {
            violations.add(
                "offset",
                "Input should be greater than or equal to 0",
                "greater_than_equal",
            );
        }
        violations.finish()
    }
}

impl Page {
    /// `limit` for a driver call (validated to be positive).
    pub fn limit(&self) -> i64 {
        self.limit
    }

    /// `offset` as the driver's `skip` (validated to be non-negative).
    pub fn skip(&self) -> u64 {
        self.offset.unsigned_abs()
    }
}

/// One page of a list with the total count, answered as a JSON array plus paging headers.
#[derive(Debug)]
pub struct Paged<T> {
    items: Vec<T>,
    total: u64,
    page: Page,
    uri: Uri,
}

impl<T> Paged<T> {
    /// `items` are the page of `page` out of `total`, listed at `uri` (the request's URI).
    pub fn new(items: Vec<T>, total: u64, page: Page, uri: Uri) -> Self {
        Self {
            items,
            total,
            page,
            uri,
        }
    }
}

impl<T: Serialize> IntoResponse for Paged<T> {
    fn into_response(self) -> Response {
        let link = link_header(&self.uri, self.page, self.total);
        let mut response = Json(self.items).into_response();
        let headers = response.headers_mut();
        headers.insert(
            HeaderName::from_static("x-total-count"),
            HeaderValue::from(self.total),
        );
        if let Some(link) = link.and_then(|link| HeaderValue::from_str(&link).ok()) {
            headers.insert(header::LINK, link);
        }
        response
    }
}

/// `<…>; rel="next", <…>; rel="prev"`, with relative references that keep the other parameters.
fn link_header(uri: &Uri, page: Page, total: u64) -> Option<String> {
    let total = i64::try_from(total).unwrap_or(i64::MAX);
    let mut links = Vec::new();
    if page.offset.saturating_add(page.limit) < total {
        links.push((page.offset + page.limit, "next"));
    }
    if page.offset > 0 {
        links.push(((page.offset - page.limit).max(0), "prev"));
    }
    if links.is_empty() {
        return None;
    }
    let others: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .filter(|(key, _)| key != "limit" && key != "offset")
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect();
    let rendered = links
        .into_iter()
        .map(|(offset, rel)| {
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&others)
                .append_pair("limit", &page.limit.to_string())
                .append_pair("offset", &offset.to_string())
                .finish();
            format!("<{}?{query}>; rel=\"{rel}\"", uri.path())
        })
        .collect::<Vec<_>>()
        .join(", ");
    Some(rendered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(limit: i64, offset: i64) -> Page {
        Page { limit, offset }
    }

    #[test]
    fn a_middle_page_links_both_ways_and_keeps_filters() {
        let uri: Uri = "/products?q=lamp&limit=10&offset=10".parse().unwrap();
        let link = link_header(&uri, page(10, 10), 35).unwrap();
        assert_eq!(
            link,
            "</products?q=lamp&limit=10&offset=20>; rel=\"next\", \
             </products?q=lamp&limit=10&offset=0>; rel=\"prev\""
        );
    }

    #[test]
    fn the_only_page_has_no_links() {
        let uri: Uri = "/users".parse().unwrap();
        assert_eq!(link_header(&uri, page(100, 0), 3), None);
    }

    #[test]
    fn the_last_page_links_only_back() {
        let uri: Uri = "/users?limit=2&offset=4".parse().unwrap();
        let link = link_header(&uri, page(2, 4), 5).unwrap();
        assert_eq!(link, "</users?limit=2&offset=2>; rel=\"prev\"");
    }

    #[test]
    fn limits_and_offsets_out_of_range_are_refused() {
        assert!(page(1, 0).validate().is_ok());
        assert!(page(1000, 5).validate().is_ok());
        for bad in [page(0, 0), page(1001, 0), page(10, -1)] {
            assert_eq!(bad.validate().unwrap_err().code(), "VALIDATION_ERROR");
        }
    }
}
