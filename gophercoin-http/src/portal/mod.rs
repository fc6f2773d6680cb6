//! The web portal: static HTML, CSS and ES modules embedded in the binary and served at
//! `/` and `/portal/*`. It talks to the node's own JSON API; the wallet signs in the page
//! with WebCrypto, over the same canonical bytes as the core.

use axum::{
    extract::Path,
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
};

use crate::error::ApiError;

const INDEX: &str = include_str!("index.html");
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", "text/javascript; charset=utf-8", include_str!("app.js")),
    ("wallet.js", "text/javascript; charset=utf-8", include_str!("wallet.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("style.css")),
];

/// `GET /`: the portal's page.
pub(crate) async fn index() -> Html<&'static str> {
    Html(INDEX)
}

/// `GET /portal/{file}`: a script or stylesheet.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, ..)| *name == file) {
        Some((_, content_type, body)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "no-cache")],
            *body,
        )
            .into_response(),
        None => ApiError::not_found(format!("no portal file {file}")).into_response(),
    }
}
