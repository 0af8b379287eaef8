use std::collections::HashMap;

use super::*;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(8001, |name| vars.get(name).cloned())
}

#[test]
fn defaults_apply_when_only_the_secret_is_set() {
    let config = config(&[("JWT_SECRET", SECRET)]).unwrap();
    assert_eq!(config.db_name, "ecommerce");
    assert_eq!(config.port, 8001);
    assert_eq!(config.host, IpAddr::from([0, 0, 0, 0]));
    assert_eq!(config.cors_origins, CorsOrigins::Any);
    assert_eq!(config.log_format, LogFormat::Pretty);
    assert_eq!(config.access_token_ttl, Duration::from_secs(30 * 60));
    assert_eq!(config.header_read_timeout, Duration::from_secs(10));
    assert_eq!(config.max_connections, 10_000);
    assert_eq!(config.metrics_path.as_deref(), Some("/metrics"));
    assert_eq!(config.oauth2_token_url, "http://localhost:8001/users/token");
    assert!(!config.mongodb_command_metrics);
    assert_eq!(config.currency.code(), "USD");
}

#[test]
fn the_currency_is_an_iso_code_with_its_exponent() {
    for (code, exponent) in [("USD", 2), ("EUR", 2), ("JPY", 0), ("KWD", 3), ("BHD", 3)] {
        let config = config(&[("JWT_SECRET", SECRET), ("CURRENCY", code)]).unwrap();
        assert_eq!(config.currency.code(), code);
        assert_eq!(config.currency.exponent(), exponent);
    }
    let err = config(&[("JWT_SECRET", SECRET), ("CURRENCY", "XYZ")])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("CURRENCY is invalid: `XYZ`"), "{err}");
}

#[test]
fn the_oauth2_token_url_is_a_url_or_a_path() {
    let at = |url: &str| config(&[("JWT_SECRET", SECRET), ("OAUTH2_TOKEN_URL", url)]);

    for accepted in [
        "https://shop.example.com/api/users/token",
        "/api/users/token",
    ] {
        assert_eq!(at(accepted).unwrap().oauth2_token_url, accepted);
    }
    for refused in ["users/token", "ftp://example.com/token", "/a b"] {
        let err = at(refused).unwrap_err().to_string();
        assert!(err.starts_with("OAUTH2_TOKEN_URL"), "{refused}: {err}");
    }
}

#[test]
fn the_metrics_path_moves_or_turns_off() {
    let at = |path: &str| config(&[("JWT_SECRET", SECRET), ("METRICS_PATH", path)]);

    assert_eq!(
        at("/internal/metrics").unwrap().metrics_path.as_deref(),
        Some("/internal/metrics")
    );
    assert_eq!(at("off").unwrap().metrics_path, None);
    for refused in ["metrics", "/", "/metrics/", "/a b"] {
        let err = at(refused).unwrap_err().to_string();
        assert!(err.starts_with("METRICS_PATH"), "{refused}: {err}");
    }
}

#[test]
fn connection_limits_are_read() {
    let config = config(&[
        ("JWT_SECRET", SECRET),
        ("HEADER_READ_TIMEOUT_SECS", "3"),
        ("MAX_CONNECTIONS", "250"),
    ])
    .unwrap();
    assert_eq!(config.header_read_timeout, Duration::from_secs(3));
    assert_eq!(config.max_connections, 250);
}

#[test]
fn a_secret_is_read_exactly_as_given() {
    let vars = HashMap::from([("PADDED", " pass word 1 "), ("EMPTY", ""), ("BLANK", "   ")]);
    let given = Env::new(|name| vars.get(name).map(|value| (*value).to_owned()));

    assert_eq!(
        given
            .secret("PADDED")
            .map(|secret| secret.expose().to_owned()),
        Some(" pass word 1 ".to_owned())
    );
    assert_eq!(given.secret("EMPTY"), None);
    assert_eq!(given.secret("UNSET"), None);
    // Only empty counts as unset: spaces are a value, which the caller may refuse.
    assert_eq!(given.secret("BLANK").map(|s| s.expose().len()), Some(3));
    assert_eq!(given.string("PADDED").as_deref(), Some("pass word 1"));
}

#[test]
fn a_missing_secret_is_refused_with_its_name() {
    let err = config(&[]).unwrap_err().to_string();
    assert!(err.starts_with("JWT_SECRET is required"), "{err}");
}

#[test]
fn a_short_secret_is_refused_with_its_name() {
    let err = config(&[("JWT_SECRET", "too-short")])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("JWT_SECRET is invalid"), "{err}");
}

#[test]
fn bad_values_name_their_variable() {
    for (name, value) in [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("HOST", "not an ip"),
        ("LOG_FORMAT", "xml"),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
        ("DB_NAME", "a.b"),
        ("CORS_ORIGINS", "https://shop.example.com/path"),
        ("CORS_ORIGINS", "shop.example.com"),
        ("HEADER_READ_TIMEOUT_SECS", "0"),
        ("HEADER_READ_TIMEOUT_SECS", "301"),
        ("MAX_CONNECTIONS", "0"),
        ("MAX_CONNECTIONS", "many"),
        ("CURRENCY", "XYZ"),
        ("CURRENCY", "usd"),
    ] {
        let err = config(&[("JWT_SECRET", SECRET), (name, value)])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(&format!("{name} is invalid")), "{err}");
    }
}

#[test]
fn cors_origins_are_split_on_commas() {
    let config = config(&[
        ("JWT_SECRET", SECRET),
        (
            "CORS_ORIGINS",
            "https://a.example.com, http://localhost:3000",
        ),
    ])
    .unwrap();
    assert_eq!(
        config.cors_origins,
        CorsOrigins::List(vec![
            HeaderValue::from_static("https://a.example.com"),
            HeaderValue::from_static("http://localhost:3000"),
        ])
    );
}

#[test]
fn debug_output_hides_secrets() {
    let config = config(&[
        ("JWT_SECRET", SECRET),
        ("MONGO_URI", "mongodb://user:hunter2@db.example.com"),
    ])
    .unwrap();
    let debug = format!("{config:?}");
    assert!(
        !debug.contains(SECRET) && !debug.contains("hunter2"),
        "{debug}"
    );
}
