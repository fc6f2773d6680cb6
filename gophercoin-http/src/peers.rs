//! Peers: the registry of peer URLs (checked by [`crate::peer_url`]), and a client that
//! fetches from and pushes to them with timeouts, a response size cap and no redirects.

use std::{collections::BTreeSet, sync::Mutex};

use gophercoin_core::Block;
use serde::de::DeserializeOwned;

use crate::{config::Limits, dto::ChainDto};

pub(crate) use crate::peer_url::{PeerPolicy, PeerUrl, PeerUrlError};

/// How many blocks one `/chain` page carries at most.
pub(crate) const PAGE_BLOCKS: u64 = 500;

/// The peer client's resolver: the system's, with every address checked against the
/// node's [`PeerPolicy`] each time a name is dialled, so a name that resolved to a public
/// address at registration and to a private one later is still never dialled there.
#[derive(Debug)]
struct PolicyResolver(PeerPolicy);

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = policy.resolve(&name).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Why talking to a peer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum PeerError {
    /// Connecting, sending or reading failed or timed out.
    #[error("request to {url} failed: {reason}")]
    Http {
        /// The URL asked.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The peer answered with an error status.
    #[error("{url} answered {status}")]
    Status {
        /// The URL asked.
        url: String,
        /// Its status.
        status: u16,
    },
    /// The answer was larger than allowed.
    #[error("{url} sent more than {max} bytes")]
    TooLarge {
        /// The URL asked.
        url: String,
        /// The cap.
        max: usize,
    },
    /// The answer was not the expected JSON.
    #[error("{url} sent malformed data: {reason}")]
    Malformed {
        /// The URL asked.
        url: String,
        /// What was wrong.
        reason: String,
    },
}

impl PeerError {
    /// The stable kind of the failure, as a peer report names it
    /// ([`PeerReport::error`](crate::dto::PeerReport::error)).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            PeerError::Http { .. } => "peer_unreachable",
            PeerError::Status { .. } => "peer_status",
            PeerError::TooLarge { .. } => "too_large",
            PeerError::Malformed { .. } => "malformed",
        }
    }
}

/// The registered peers.
#[derive(Debug)]
pub(crate) struct Peers {
    urls: Mutex<BTreeSet<PeerUrl>>,
    max: usize,
}

impl Peers {
    /// Makes an empty registry of at most `max` peers.
    pub(crate) fn new(max: usize) -> Self {
        Peers { urls: Mutex::new(BTreeSet::new()), max }
    }

    /// Adds peers, all or none; returns the ones that are new.
    ///
    /// # Errors
    ///
    /// [`PeerUrlError::TooMany`] if they would pass the limit.
    pub(crate) fn add(&self, urls: &[PeerUrl]) -> Result<Vec<PeerUrl>, PeerUrlError> {
        let mut set = self.urls.lock().unwrap_or_else(|e| e.into_inner());
        let new: BTreeSet<_> = urls.iter().filter(|u| !set.contains(*u)).cloned().collect();
        if set.len() + new.len() > self.max {
            return Err(PeerUrlError::TooMany(self.max));
        }
        set.extend(new.iter().cloned());
        Ok(new.into_iter().collect())
    }

    /// Adds peers up to the limit, in order; returns the ones left out.
    pub(crate) fn add_up_to_limit(&self, urls: &[PeerUrl]) -> Vec<PeerUrl> {
        let mut set = self.urls.lock().unwrap_or_else(|e| e.into_inner());
        let mut left_out = vec![];
        for url in urls {
            if set.contains(url) {
                continue;
            }
            if set.len() < self.max {
                set.insert(url.clone());
            } else {
                left_out.push(url.clone());
            }
        }
        left_out
    }

    /// Removes a peer; returns `false` if it was not registered.
    pub(crate) fn remove(&self, url: &PeerUrl) -> bool {
        self.urls.lock().unwrap_or_else(|e| e.into_inner()).remove(url)
    }

    /// Returns the peers, sorted.
    pub(crate) fn list(&self) -> Vec<PeerUrl> {
        self.urls.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }
}

/// What a node's `GET /health` says of its place in the peer network.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct PeerHealth {
    /// Its peer id and addresses, if it runs the peer network.
    pub(crate) p2p: Option<PeerP2p>,
}

/// A node's peer id and addresses ([`crate::p2p::LocalPeer`]).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct PeerP2p {
    pub(crate) peer_id: String,
    #[serde(default)]
    pub(crate) listen: Vec<String>,
    pub(crate) advertised: Option<String>,
}

/// An HTTP client for peers: connect and total timeouts, no redirects, a body cap.
#[derive(Clone, Debug)]
pub(crate) struct PeerClient {
    http: reqwest::Client,
    max_response_bytes: usize,
    max_sync_blocks: u64,
}

impl PeerClient {
    /// Makes a client with the limits.
    ///
    /// # Panics
    ///
    /// If the HTTP client can't be built (no TLS backend is configured, so it can't fail
    /// for want of one).
    pub(crate) fn new(limits: &Limits) -> Self {
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(limits.peer_connect_timeout)
            .timeout(limits.peer_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(std::sync::Arc::new(PolicyResolver(limits.peer_policy)))
            // Peers are dialled directly: through a proxy, the resolver (and so the
            // policy) would see only the proxy's name.
            .no_proxy()
            .user_agent(concat!("gophercoin/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with the process's TLS provider builds");
        PeerClient {
            http,
            max_response_bytes: limits.max_peer_response_bytes,
            max_sync_blocks: limits.max_sync_blocks,
        }
    }

    /// Fetches a peer's main chain from height `from` up, page by page.
    ///
    /// # Errors
    ///
    /// The first [`PeerError`]; a peer that claims more blocks than we sync at once, or
    /// whose pages don't follow on, is malformed.
    pub(crate) async fn fetch_chain(
        &self,
        peer: &str,
        chain_id: u32,
        from: u64,
    ) -> Result<Vec<Block>, PeerError> {
        let mut blocks = vec![];
        let mut next = from;
        loop {
            let url = format!("{peer}/chain?from={next}&limit={PAGE_BLOCKS}");
            let page: ChainDto = self.get_json(&url).await?;
            let malformed = |reason: String| PeerError::Malformed { url: url.clone(), reason };
            if page.length.saturating_sub(from) > self.max_sync_blocks {
                return Err(malformed(format!("claims {} blocks", page.length)));
            }
            let count = page.chain.len() as u64;
            if count > PAGE_BLOCKS {
                return Err(malformed(format!("sent {count} blocks in one page")));
            }
            for (offset, dto) in page.chain.into_iter().enumerate() {
                if dto.index != next + offset as u64 {
                    return Err(malformed("pages do not follow on".into()));
                }
                blocks.push(dto.into_block(chain_id));
            }
            next += count;
            if count == 0 || next >= page.length {
                return Ok(blocks);
            }
        }
    }

    /// A peer's `GET /health`, for its peer id and addresses.
    ///
    /// # Errors
    ///
    /// The [`PeerError`] of the request.
    pub(crate) async fn health(&self, peer: &str) -> Result<PeerHealth, PeerError> {
        self.get_json(&format!("{peer}/health")).await
    }

    async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, PeerError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| PeerError::Http { url: url.to_owned(), reason: e.to_string() })?;
        if !response.status().is_success() {
            return Err(PeerError::Status {
                url: url.to_owned(),
                status: response.status().as_u16(),
            });
        }
        let body = self.read_capped(url, response).await?;
        serde_json::from_slice(&body)
            .map_err(|e| PeerError::Malformed { url: url.to_owned(), reason: e.to_string() })
    }

    async fn read_capped(
        &self,
        url: &str,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, PeerError> {
        let max = self.max_response_bytes;
        if response.content_length().is_some_and(|len| len > max as u64) {
            return Err(PeerError::TooLarge { url: url.to_owned(), max });
        }
        let mut body = vec![];
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| PeerError::Http { url: url.to_owned(), reason: e.to_string() })?
        {
            if body.len() + chunk.len() > max {
                return Err(PeerError::TooLarge { url: url.to_owned(), max });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The peer client's connector checks names when it dials: a public node's client
    /// never connects to `localhost`, even for a URL that never passed registration.
    #[tokio::test]
    async fn the_peer_client_refuses_a_forbidden_name_when_it_dials() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let port = listener.local_addr().expect("an address").port();
        let limits = Limits { peer_policy: PeerPolicy::PublicOnly, ..Limits::default() };
        let client = PeerClient::new(&limits);
        let fetched = client.fetch_chain(&format!("http://localhost:{port}"), 1, 0).await;
        assert!(matches!(fetched, Err(PeerError::Http { .. })), "{fetched:?}");
        let accepted =
            tokio::time::timeout(std::time::Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "the client connected");
        // The same client under the local policy does connect.
        let limits = Limits::default();
        let client = PeerClient::new(&limits);
        let url = format!("http://localhost:{port}");
        let dialling = tokio::spawn(async move { client.fetch_chain(&url, 1, 0).await });
        let accepted =
            tokio::time::timeout(std::time::Duration::from_secs(5), listener.accept()).await;
        assert!(accepted.is_ok_and(|a| a.is_ok()), "the local client did not connect");
        dialling.abort();
    }

    #[test]
    fn registry_collapses_duplicates_and_caps_its_size() {
        let peers = Peers::new(2);
        let a: PeerUrl = "http://127.0.0.1:1".parse().unwrap();
        let b: PeerUrl = "127.0.0.1:2".parse().unwrap();
        assert_eq!(peers.add(&[a.clone(), a.clone()]).unwrap(), vec![a.clone()]);
        assert_eq!(peers.add(&[a.clone(), b.clone()]).unwrap(), vec![b.clone()]);
        let c = "http://127.0.0.1:3".parse().unwrap();
        assert_eq!(peers.add(&[c]), Err(PeerUrlError::TooMany(2)));
        assert_eq!(peers.list(), vec![a, b]);
    }
}
