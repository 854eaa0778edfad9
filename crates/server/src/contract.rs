//! The published API contract: the modules' OpenAPI document plus the error answers
//! every route gives by construction, so generated clients know every status they can
//! get and that errors are `application/problem+json`.
//!
//! Routes document their own domain errors in `#[utoipa::path(responses(...))]`
//! (`404`, `409`, `402`...). What the shared machinery can answer is added here, from
//! what the operation declares:
//! - a bearer requirement: `401` (missing, invalid or revoked token); the `ADMIN` role
//!   in the requirement (`security(("bearer" = ["ADMIN"]))`): `403`;
//! - a JSON body (axum's `Json` rejection, see `surge_kernel::extract`): `400`
//!   `malformed_json`, `413`, `415`, `422` `invalid_body`;
//! - path or query parameters: `400` `invalid_path` / `invalid_query` (and the page
//!   parameters' `invalid_cursor` / `invalid_limit`);
//! - an `Idempotency-Key` header: `400` `invalid_idempotency_key`, `422`
//!   `idempotency_mismatch` (routes behind the idempotency layer also document `409`
//!   `idempotency_in_progress`);
//! - every route: `408` (the request timeout layer) and `500`.

use serde_json::{json, Map, Value};
use utoipa::openapi::OpenApi;

const PROBLEM_REF: &str = "#/components/schemas/Problem";
const PROBLEM_JSON: &str = surge_kernel::error::PROBLEM_JSON;

/// Error answers with one fixed meaning, by name in `components.responses`.
const SHARED: &[(&str, u16, &str)] = &[
    ("Unauthorized", 401, "`unauthenticated`, `invalid_token`, `token_expired`, `session_revoked`: a valid bearer access token is required"),
    ("Forbidden", 403, "`forbidden`: this needs the ADMIN role"),
    ("RequestTimeout", 408, "`timeout`: the request took too long"),
    ("PayloadTooLarge", 413, "`payload_too_large`: the request body is over the configured limit"),
    ("UnsupportedMediaType", 415, "`unsupported_media_type`: send the body as `application/json`"),
    ("Internal", 500, "`internal`: an unexpected error (logged under the request id)"),
];

fn problem_content() -> Value {
    json!({ PROBLEM_JSON: { "schema": { "$ref": PROBLEM_REF } } })
}

/// The document served at `/api/openapi.json`.
pub fn document(api: OpenApi) -> Value {
    let mut doc = serde_json::to_value(api).unwrap_or_else(|_| json!({}));
    let Some(root) = doc.as_object_mut() else {
        return doc;
    };
    let components = root
        .entry("components")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(components) = components {
        let responses = components.entry("responses").or_insert_with(|| json!({}));
        if let Some(responses) = responses.as_object_mut() {
            for (name, _, description) in SHARED {
                responses.insert(
                    (*name).to_owned(),
                    json!({ "description": description, "content": problem_content() }),
                );
            }
        }
    }
    if let Some(paths) = root.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                if matches!(
                    method.as_str(),
                    "get" | "put" | "post" | "delete" | "patch" | "head" | "options" | "trace"
                ) {
                    if let Some(op) = op.as_object_mut() {
                        complete_operation(op);
                    }
                }
            }
        }
    }
    doc
}

/// The error answers an operation gives by construction: status and the codes behind it.
fn implied_errors(op: &Map<String, Value>) -> Vec<(u16, &'static str)> {
    let mut out = vec![(408, ""), (500, "")];
    let bearer_scopes: Vec<Vec<&str>> = op
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|req| req.get("bearer"))
        .map(|scopes| {
            scopes
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect()
        })
        .collect();
    if !bearer_scopes.is_empty() {
        out.push((401, ""));
    }
    if bearer_scopes.iter().any(|s| s.contains(&"ADMIN")) {
        out.push((403, ""));
    }
    if op.contains_key("requestBody") {
        out.extend([
            (400, "`malformed_json`"),
            (413, ""),
            (415, ""),
            (422, "`invalid_body` (the JSON does not match the schema)"),
        ]);
    }
    let params: Vec<&Map<String, Value>> = op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .collect();
    let is_in =
        |p: &Map<String, Value>, place: &str| p.get("in").and_then(Value::as_str) == Some(place);
    let named =
        |p: &Map<String, Value>, name: &str| p.get("name").and_then(Value::as_str) == Some(name);
    if params.iter().any(|p| is_in(p, "path")) {
        out.push((400, "`invalid_path`"));
    }
    if params.iter().any(|p| is_in(p, "query")) {
        out.push((400, "`invalid_query`"));
    }
    if params
        .iter()
        .any(|p| is_in(p, "query") && named(p, "cursor"))
    {
        out.push((400, "`invalid_cursor`, `invalid_limit`"));
    }
    if params
        .iter()
        .any(|p| is_in(p, "header") && named(p, "Idempotency-Key"))
    {
        out.extend([
            (400, "`invalid_idempotency_key`"),
            (
                422,
                "`idempotency_mismatch` (the key was used with another body)",
            ),
        ]);
    }
    out
}

fn complete_operation(op: &mut Map<String, Value>) {
    let implied = implied_errors(op);
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    // Errors the route documents itself: always problem+json.
    for (status, response) in responses.iter_mut() {
        let is_error = status.parse::<u16>().is_ok_and(|s| s >= 400);
        if let (true, Some(r)) = (is_error, response.as_object_mut()) {
            r.insert("content".into(), problem_content());
        }
    }
    for (status, codes) in implied {
        let key = status.to_string();
        let fixed = SHARED.iter().find(|(_, s, _)| *s == status);
        match (
            responses.get_mut(&key).and_then(Value::as_object_mut),
            fixed,
        ) {
            (None, Some((name, _, _))) => {
                responses.insert(
                    key,
                    json!({ "$ref": format!("#/components/responses/{name}") }),
                );
            }
            (None, None) => {
                responses.insert(
                    key,
                    json!({ "description": codes, "content": problem_content() }),
                );
            }
            // Already there: the route's description names its domain codes; add these.
            (Some(own), fixed) => {
                let extra = fixed.map_or(codes, |(_, _, d)| *d);
                let desc = own.get("description").and_then(Value::as_str).unwrap_or("");
                let desc = if desc.is_empty() {
                    extra.to_owned()
                } else if desc.contains(extra) {
                    desc.to_owned()
                } else {
                    format!("{desc}; {extra}")
                };
                own.insert("description".into(), Value::String(desc));
            }
        }
    }
}
