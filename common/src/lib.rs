//! The foundation the services share: configuration, the MongoDB connection, the one error type,
//! request extractors and validation, JWT auth, paging, telemetry, the shared HTTP layers and the
//! process runner. With the `testing` feature it also carries the integration-test support.
//!
//! The modules depend on each other in one direction only, so each can be read and tested from
//! the bottom up: `config`, `error`, `time` and `catalog` use no other module; `validate` and
//! `openapi` (the error responses routes share in their OpenAPI description) use `error`;
//! `pagination` uses `error` and `validate`; `db` uses `config` and `pagination`; `http` uses
//! `config`, `db`, `error` and `openapi`; `extract` uses `error`, `validate` and `http` (for the
//! body limit); `auth`, `telemetry`, `server` and `testing` sit on top. In particular `error`
//! decides 503 or 500 for a driver error itself rather than asking `db`, and `Validate` lives
//! apart from the extractors that call it.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod catalog;
pub mod config;
pub mod db;
pub mod deadline;
pub mod error;
pub mod extract;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod pagination;
pub mod server;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
pub mod validate;

pub use error::{ApiError, ApiResult};

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    /// Every module's source, read at compile time.
    const MODULES: &[(&str, &str)] = &[
        ("auth", include_str!("auth.rs")),
        ("catalog", include_str!("catalog.rs")),
        ("config", include_str!("config.rs")),
        ("db", include_str!("db.rs")),
        ("deadline", include_str!("deadline.rs")),
        ("error", include_str!("error.rs")),
        ("extract", include_str!("extract.rs")),
        ("http", include_str!("http.rs")),
        ("metrics", include_str!("metrics.rs")),
        ("openapi", include_str!("openapi.rs")),
        ("pagination", include_str!("pagination.rs")),
        ("server", include_str!("server.rs")),
        ("telemetry", include_str!("telemetry.rs")),
        ("testing", include_str!("testing.rs")),
        ("time", include_str!("time.rs")),
        ("validate", include_str!("validate.rs")),
    ];

    /// The modules a source names through `crate::`, in `use` lists and in paths, leaving out
    /// comments and its unit tests. The crate root's re-exports count as `error`.
    fn uses(source: &str) -> BTreeSet<&'static str> {
        let code: String = source
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut names = BTreeSet::new();
        for (_, rest) in code
            .match_indices("crate::")
            .map(|(at, _)| code.split_at(at + 7))
        {
            let group = match rest.strip_prefix('{') {
                Some(inner) => top_level_names(inner),
                None => vec![identifier(rest)],
            };
            names.extend(group.into_iter().filter_map(module_named));
        }
        names
    }

    /// The first name of each item of a `{…}` use list whose `{` is already consumed.
    fn top_level_names(inner: &str) -> Vec<&str> {
        let mut names = vec![identifier(inner.trim_start())];
        let mut depth = 0;
        for (at, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => names.push(identifier(inner[at + 1..].trim_start())),
                _ => {}
            }
        }
        names
    }

    fn identifier(text: &str) -> &str {
        let end = text
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(text.len());
        &text[..end]
    }

    fn module_named(name: &str) -> Option<&'static str> {
        match name {
            "ApiError" | "ApiResult" => Some("error"),
            _ => MODULES
                .iter()
                .map(|(module, _)| *module)
                .find(|m| *m == name),
        }
    }

    /// A path of modules that leads from `from` back to itself, if there is one.
    fn cycle_through(
        graph: &BTreeMap<&'static str, BTreeSet<&'static str>>,
        from: &'static str,
    ) -> Option<Vec<&'static str>> {
        let mut stack = vec![vec![from]];
        let mut seen = BTreeSet::new();
        while let Some(path) = stack.pop() {
            let last = *path.last()?;
            for next in graph.get(last).into_iter().flatten() {
                let mut longer = path.clone();
                longer.push(next);
                if *next == from {
                    return Some(longer);
                }
                if seen.insert(*next) {
                    stack.push(longer);
                }
            }
        }
        None
    }

    #[test]
    fn the_modules_use_each_other_without_cycles() {
        let graph: BTreeMap<_, _> = MODULES
            .iter()
            .map(|(module, source)| {
                let mut used = uses(source);
                used.remove(module);
                (*module, used)
            })
            .collect();
        assert!(graph["pagination"].contains("validate"), "{graph:?}");
        assert!(graph["extract"].contains("http"), "{graph:?}");
        for (module, _) in MODULES {
            if let Some(cycle) = cycle_through(&graph, module) {
                panic!("modules use each other in a circle: {}", cycle.join(" → "));
            }
        }
    }
}
