//! Request extractors of our own.

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, Request, rejection::JsonRejection},
    http::header,
};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body: what axum's [`Json`] accepts and refuses, with the same errors,
/// but cheaper to accept.
///
/// `Json` decodes every body through `serde_path_to_error`, which copies each key it
/// reads so an error can name the field; a body sent as `application/json` is decoded
/// here without that bookkeeping, and only one that fails is decoded again by `Json`, for
/// its error. Any other content type goes to `Json` as it is.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_plain_json(&req) {
            let Json(value) = Json::<T>::from_request(req, state).await?;
            return Ok(JsonBody(value));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(JsonRejection::from)?;
        JsonBody::decode(&bytes)
    }
}

/// Whether the body is sent as exactly `application/json` (the type decoded here without
/// [`Json`]'s bookkeeping; any other goes through `Json`'s own checks).
fn is_plain_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"application/json"))
}

impl<T: DeserializeOwned> JsonBody<T> {
    /// Decodes a body sent as `application/json`, as [`JsonBody`] does.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, ApiError> {
        match serde_json::from_slice(bytes) {
            Ok(value) => Ok(JsonBody(value)),
            Err(fast) => match Json::<T>::from_bytes(bytes) {
                Err(rejection) => Err(rejection.into()),
                // Both decoders read the same grammar; should they ever disagree, the
                // body is still refused, with the first one's reason.
                Ok(_) => Err(ApiError::bad_request("malformed", fast.to_string())),
            },
        }
    }
}

/// A request body sent as `application/json`, not yet decoded (a body of another type
/// is refused as [`Json`] refuses it).
#[derive(Debug)]
pub(crate) struct JsonBytes(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_plain_json(&req) {
            // What Json says of the content type and the body: the same refusal, or
            // bytes it accepts.
            let headers = req.headers().clone();
            let bytes = Bytes::from_request(req, state).await.map_err(JsonRejection::from)?;
            let mut probe = Request::new(axum::body::Body::from(bytes.clone()));
            *probe.headers_mut() = headers;
            let Json(serde::de::IgnoredAny) = Json::from_request(probe, state).await?;
            return Ok(JsonBytes(bytes));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(JsonRejection::from)?;
        Ok(JsonBytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::StatusCode};
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Payment {
        to: String,
        amount: u64,
    }

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut request = Request::builder().method("POST").uri("/");
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        request.body(Body::from(body.to_owned())).expect("a request")
    }

    async fn extract(content_type: Option<&str>, body: &str) -> Result<Payment, ApiError> {
        let request = request(content_type, body);
        JsonBody::<Payment>::from_request(request, &()).await.map(|JsonBody(p)| p)
    }

    /// `JsonBytes` then `JsonBody::decode`, as `POST /blocks` reads its body.
    async fn in_two_steps(content_type: Option<&str>, body: &str) -> Result<Payment, ApiError> {
        let JsonBytes(bytes) = JsonBytes::from_request(request(content_type, body), &()).await?;
        JsonBody::<Payment>::decode(&bytes).map(|JsonBody(p)| p)
    }

    async fn axum_json(content_type: Option<&str>, body: &str) -> Result<Payment, ApiError> {
        let mut request = Request::builder().method("POST").uri("/");
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request.body(Body::from(body.to_owned())).expect("a request");
        Json::<Payment>::from_request(request, &()).await.map(|Json(p)| p).map_err(Into::into)
    }

    #[tokio::test]
    async fn accepts_and_refuses_what_axum_json_does_with_its_errors() {
        let cases = [
            (Some("application/json"), r#"{"to":"bob","amount":5}"#),
            (Some("Application/JSON"), r#"{"to":"bob","amount":5}"#),
            (Some("application/json; charset=utf-8"), r#"{"to":"bob","amount":5}"#),
            (Some("application/json"), r#"{"to":"bob","amount":"5"}"#),
            (Some("application/json"), r#"{"to":"bob","amount":5,"extra":1}"#),
            (Some("application/json"), r#"{"to":"bob","to":"eve","amount":5}"#),
            (Some("application/json"), r#"{"to":"bob","amount":5} trailing"#),
            (Some("application/json"), r#"{"to":"bob""#),
            (Some("application/json"), ""),
            (Some("text/plain"), r#"{"to":"bob","amount":5}"#),
            (None, r#"{"to":"bob","amount":5}"#),
        ];
        for (content_type, body) in cases {
            let theirs = axum_json(content_type, body).await;
            for ours in [extract(content_type, body).await, in_two_steps(content_type, body).await]
            {
                match (&ours, &theirs) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b),
                    (Err(a), Err(b)) => assert_eq!(a, b, "{content_type:?} {body:?}"),
                    _ => panic!("{content_type:?} {body:?}: ours {ours:?}, axum's {theirs:?}"),
                }
            }
        }
        let refused = extract(Some("application/json"), r#"{"to":"bob","amount":-1}"#).await;
        let error = refused.expect_err("a negative amount is refused");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert!(error.to_string().contains("amount"), "the error names the field: {error}");
    }
}
