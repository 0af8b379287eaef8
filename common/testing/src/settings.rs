//! What a service prints of itself checked against what it serves and against the configuration
//! reference (`docs/configuration.md`, its "## Settings" table).

use std::path::Path;

use common_platform::{
    config::{ServiceSettings, SettingInfo},
    http::service_openapi,
    server::describe_settings,
    service::Service,
};
use serde_json::Value;

/// Panics unless `service`'s `--openapi` document (with `token_url`) is `served`, the document
/// its router serves, and every setting its `--settings` lists (`S` being its own) is documented
/// as [`assert_settings_documented`] asks.
pub fn assert_describes_itself<S: ServiceSettings>(
    service: &Service,
    served: &Value,
    token_url: &str,
) {
    let printed = serde_json::to_value(service_openapi(service, token_url)).unwrap();
    assert_eq!(
        &printed, served,
        "--openapi prints what /openapi.json serves"
    );

    let settings = describe_settings::<S>(service).unwrap();
    assert!(
        settings
            .iter()
            .any(|setting| setting.name == "JWT_SECRET" && setting.required),
        "the shared settings are described: {settings:?}"
    );
    assert_settings_documented(service.name, &settings);
}

/// One row of the settings table: the variables of its first cell, and the rest of its text.
struct Row {
    names: Vec<String>,
    default: String,
    meaning: String,
}

fn rows() -> Vec<Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let text = std::fs::read_to_string(&path).expect("docs/configuration.md is readable");
    let section = text
        .split("\n## ")
        .find(|section| section.starts_with("Settings\n"))
        .expect("docs/configuration.md has a `## Settings` section");
    section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
            assert_eq!(cells.len(), 3, "a settings row has three cells: {line}");
            Row {
                names: cells[0]
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_owned)
                    .collect(),
                default: cells[1].to_owned(),
                meaning: cells[2].to_owned(),
            }
        })
        .collect()
}

/// Text compared without case, spaces (thousands are written `10 000`), backticks or the kind of
/// dash: `1–1 000 000` and `1..=1000000` become `1-1000000`.
fn normal(text: &str) -> String {
    text.to_lowercase()
        .replace("..=", "-")
        .replace('–', "-")
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '`')
        .collect()
}

/// Panics, naming each one, unless every setting in `settings` has a row of the reference whose
/// default cell shows its default ("required" for a required one) and whose text shows its range.
pub fn assert_settings_documented(service: &str, settings: &[SettingInfo]) {
    let rows = rows();
    let mut wrong = Vec::new();
    for setting in settings {
        let Some(row) = rows.iter().find(|row| row.names.contains(&setting.name)) else {
            wrong.push(format!("{} has no row", setting.name));
            continue;
        };
        if setting.required && !normal(&row.default).contains("required") {
            wrong.push(format!(
                "{} is required, its row says {}",
                setting.name, row.default
            ));
        }
        if let Some(default) = &setting.default
            && !normal(&row.default).contains(&normal(default))
        {
            wrong.push(format!(
                "{}'s default is {default}, its row says {}",
                setting.name, row.default
            ));
        }
        if let Some(range) = &setting.range
            && !normal(&row.meaning).contains(&normal(range))
        {
            wrong.push(format!(
                "{} accepts {range}, its row does not say so",
                setting.name
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/configuration.md disagrees with what {service} reads:\n{}",
        wrong.join("\n")
    );
}
