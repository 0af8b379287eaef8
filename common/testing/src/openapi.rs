//! Checks of a service's served OpenAPI document: that every route states the responses the
//! shared layers and extractors give (the sets in `common_api::openapi`).

use common_api::openapi::BEARER_SCHEME;

/// What the sets promise, checked on a service's served OpenAPI document (JSON): every operation
/// but the health routes lists 503 (the database deadline), every operation with a request body
/// lists 400, 408, 413, 415 and 422, and every operation that needs a bearer token lists 401.
/// Returns one line per missing response, such as `POST /products lacks 413`, so a service's test
/// can assert that there are none.
pub fn missing_shared_responses(doc: &serde_json::Value) -> Vec<String> {
    let mut missing = Vec::new();
    let paths = doc["paths"].as_object().into_iter().flatten();
    for (path, item) in paths {
        let operations = item.as_object().into_iter().flatten();
        for (method, operation) in operations.filter(|(_, op)| op.get("responses").is_some()) {
            let mut required = Vec::new();
            if !path.starts_with("/health") {
                required.push("503");
            }
            if operation.get("requestBody").is_some() {
                required.extend(["400", "408", "413", "415", "422"]);
            }
            if needs_bearer_token(operation) {
                required.push("401");
            }
            missing.extend(
                required
                    .into_iter()
                    .filter(|status| operation["responses"].get(status).is_none())
                    .map(|status| format!("{} {path} lacks {status}", method.to_uppercase())),
            );
        }
    }
    missing
}

fn needs_bearer_token(operation: &serde_json::Value) -> bool {
    operation["security"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|requirement| requirement.get(BEARER_SCHEME).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_shared_responses_names_each_gap() {
        let doc = serde_json::json!({"paths": {
            "/things": {
                "post": {
                    "requestBody": {},
                    "security": [{"bearer": []}],
                    "responses": {"201": {}, "400": {}, "408": {}, "415": {}, "422": {}, "503": {}},
                },
                "get": {"responses": {"200": {}}},
            },
            "/things/{id}": {
                "parameters": [],
                "patch": {
                    "requestBody": {},
                    "security": [{"bearer": []}],
                    "responses": {"200": {}, "400": {}, "401": {}, "413": {}, "415": {}, "422": {}, "503": {}},
                },
            },
            "/health": {"get": {"responses": {"200": {}}}},
        }});

        let missing = missing_shared_responses(&doc);

        assert_eq!(
            missing,
            [
                "POST /things lacks 413",
                "POST /things lacks 401",
                "GET /things lacks 503",
                "PATCH /things/{id} lacks 408",
            ]
        );
    }
}
