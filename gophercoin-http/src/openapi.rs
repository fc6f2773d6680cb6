//! The OpenAPI document of the node API, served at `/openapi.json`.

use axum::http::header;

/// The document itself (kept beside this file; a test checks it names every route).
pub(crate) const DOCUMENT: &str = include_str!("openapi.json");

/// `GET /openapi.json`.
pub(crate) async fn document() -> impl axum::response::IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
