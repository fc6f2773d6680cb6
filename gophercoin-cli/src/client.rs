//! A small client for a node's API, whose errors are one readable line.

use std::time::Duration;

use serde::de::DeserializeOwned;

/// The default node URL (the original's first node).
pub(crate) const DEFAULT_NODE: &str = "http://127.0.0.1:5000";

/// Certificates (PEM) trusted besides the system's, from `--cacert`.
static EXTRA_ROOT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();

/// Trusts the certificates of the PEM file at `path` as well as the system's, for every
/// client made after (`--cacert`: a node behind TLS with a certificate of its own).
pub(crate) fn trust_certificates(path: &std::path::Path) -> Result<(), String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("cannot read the certificates in {}: {e}", path.display()))?;
    reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("{} is not PEM certificates: {e}", path.display()))?;
    let _ = EXTRA_ROOT.set(pem);
    Ok(())
}

/// Talks to one node.
#[derive(Clone, Debug)]
pub(crate) struct NodeClient {
    base: String,
    http: reqwest::Client,
}

impl NodeClient {
    /// A client for the node at `base`: an `http://` or `https://` URL; without a scheme,
    /// `http://` is meant (`127.0.0.1:5000`).
    pub(crate) fn new(base: &str) -> Result<Self, String> {
        let base = base.trim().trim_end_matches('/');
        let base = if base.contains("://") { base.to_owned() } else { format!("http://{base}") };
        let url = reqwest::Url::parse(&base)
            .map_err(|e| format!("--node {base} is not a URL ({e}); e.g. http://127.0.0.1:5000"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "--node {base} is not an http:// or https:// URL of a node, e.g. http://127.0.0.1:5000"
            ));
        }
        gophercoin_http::tls::install_crypto_provider();
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = EXTRA_ROOT.get() {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("--cacert is not PEM certificates: {e}"))?;
            builder = builder.tls_certs_merge(certificates);
        }
        let http = builder
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(NodeClient { base, http })
    }

    pub(crate) fn url(&self) -> &str {
        &self.base
    }

    /// `GET path`, its answer decoded as `T` (a [`gophercoin_http::dto`] answer, or
    /// [`serde_json::Value`] to show it as it came).
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    /// `POST path` with `body` as JSON, its answer decoded as `T`.
    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<T, String> {
        let request = self.http.post(format!("{}{path}", self.base)).json(body);
        self.send(request).await
    }

    /// `DELETE` of the path made of `segments`, each percent-encoded as one segment.
    pub(crate) async fn delete<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, String> {
        let mut url = reqwest::Url::parse(&self.base).map_err(|e| e.to_string())?;
        url.path_segments_mut()
            .map_err(|()| format!("{} can't have a path", self.base))?
            .pop_if_empty()
            .extend(segments);
        self.send(self.http.delete(url)).await
    }

    /// Opens the node's event stream (`GET /events`), after `last_event_id` if given.
    pub(crate) async fn events(
        &self,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, String> {
        // No overall timeout: the stream lasts as long as it is followed.
        let mut request = self
            .http
            .get(format!("{}/events", self.base))
            .timeout(Duration::from_secs(365 * 24 * 3600));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(format!(
                "the node at {} refused to stream events ({})",
                self.base,
                response.status()
            ))
        }
    }

    /// Says why a request got no answer: a TLS failure (an untrusted certificate, say),
    /// no node listening, or something else.
    fn unreachable(&self, error: &reqwest::Error) -> String {
        if let Some(tls) = tls_error(error) {
            return format!(
                "the TLS handshake with {} failed: {tls} (--cacert FILE trusts a certificate of its own)",
                self.base
            );
        }
        if error.is_connect() || error.is_timeout() {
            format!("cannot reach the node at {}: is it running?", self.base)
        } else {
            format!("request to {} failed: {error}", self.base)
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, String> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            format!("the node at {} answered {status} but the answer broke off: {e}", self.base)
        })?;
        let not_json = || {
            format!(
                "the node at {} answered {status} with {} bytes that are not JSON: is it a GopherCoin node?",
                self.base,
                bytes.len()
            )
        };
        if !status.is_success() {
            let refusal: gophercoin_http::ErrorBody =
                serde_json::from_slice(&bytes).map_err(|_| not_json())?;
            return Err(format!(
                "the node refused ({} {}): {}",
                status.as_u16(),
                refusal.error,
                refusal.message
            ));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() {
                not_json()
            } else {
                format!("the node at {} sent an answer this client can't read: {e}", self.base)
            }
        })
    }
}

/// The TLS error somewhere in `error`'s chain: in a source, or wrapped in an IO error
/// (which does not show what it wraps as its source).
fn tls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let wrapped = error.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref);
    if let Some(tls) = wrapped.and_then(|inner| tls_error(inner)) {
        return Some(tls);
    }
    error.source().and_then(tls_error)
}
