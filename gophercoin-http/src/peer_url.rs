//! Peer addresses: [`PeerUrl`], a peer's address checked and written canonically,
//! [`PeerPolicy`], which addresses a node agrees to dial, and [`PeerUrlError`], why an
//! address is refused.

use std::net::SocketAddr;

use url::Url;

/// How long a registration waits for a peer's host name to resolve.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// The longest URL accepted for a peer.
const MAX_URL_LEN: usize = 256;

/// Which IP addresses a node agrees to dial as peers.
///
/// Peers are URLs that anyone can register, so a node can be made to send requests to
/// them (server-side request forgery). Addresses that are never a GopherCoin node —
/// unspecified, link-local (cloud metadata services live at 169.254.169.254), multicast,
/// broadcast, documentation ranges — are always refused. A public node should also refuse
/// loopback and private ranges ([`PeerPolicy::PublicOnly`]); a local devnet needs them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PeerPolicy {
    /// Loopback and private addresses are allowed (the default, for local networks).
    #[default]
    AllowLocal,
    /// Only public addresses.
    PublicOnly,
}

/// Why a peer URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerUrlError {
    /// Longer than allowed.
    #[error("peer URL is longer than {MAX_URL_LEN} characters")]
    TooLong,
    /// Not a URL.
    #[error("{0:?} is not a valid URL: {1}")]
    Invalid(String, String),
    /// Not http or https.
    #[error("peer URL scheme {0:?} is not http or https")]
    Scheme(String),
    /// Has a user name or password.
    #[error("peer URL must not contain credentials")]
    Credentials,
    /// Has a path, query or fragment.
    #[error("peer URL must be just scheme, host and port")]
    NotBase,
    /// Too many peers.
    #[error("this node keeps at most {0} peers")]
    TooMany(usize),
    /// An address this node never dials (see [`PeerPolicy`]).
    #[error("peer address {0} is not allowed ({1})")]
    Forbidden(String, &'static str),
    /// A host name that could not be resolved where the policy needs its addresses.
    #[error("peer host {0} does not resolve: {1}")]
    Unresolved(String, String),
    /// A multiaddr that is not `/ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT/p2p/PEER_ID`.
    #[error("{0:?} is not a peer multiaddr (/ip4/HOST/tcp/PORT/p2p/PEER_ID): {1}")]
    Multiaddr(String, String),
}

impl PeerPolicy {
    /// Checks an IP address against the policy.
    ///
    /// # Errors
    ///
    /// [`PeerUrlError::Forbidden`] with the reason.
    pub fn check(self, ip: std::net::IpAddr) -> Result<(), PeerUrlError> {
        use std::net::IpAddr;
        let forbidden = |why| Err(PeerUrlError::Forbidden(ip.to_string(), why));
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                if v4.is_unspecified() || a == 0 {
                    return forbidden("unspecified");
                }
                if v4.is_link_local() {
                    return forbidden("link-local");
                }
                if v4.is_multicast() || v4.is_broadcast() || a >= 240 {
                    return forbidden("multicast or reserved");
                }
                if (a, b, c) == (192, 0, 2)
                    || (a, b, c) == (198, 51, 100)
                    || (a, b, c) == (203, 0, 113)
                {
                    return forbidden("documentation range");
                }
                let local =
                    v4.is_loopback() || v4.is_private() || (a == 100 && (64..128).contains(&b));
                if local && self == PeerPolicy::PublicOnly {
                    return forbidden("loopback or private");
                }
            }
            IpAddr::V6(v6) => {
                // IPv6 forms that carry an IPv4 address to a gateway (NAT64, 6to4, the
                // old IPv4-compatible form) are judged by that address.
                let [a, b, c, d, e, f, g, h] = v6.segments();
                let embedded = |hi: u16, lo: u16| {
                    std::net::Ipv4Addr::from(u32::from(hi) << 16 | u32::from(lo))
                };
                if (a, b) == (0x64, 0xff9b) {
                    // The well-known NAT64 prefix (64:ff9b::/96); the local-use NAT64
                    // networks (64:ff9b:1::/48) are private.
                    if (c, d, e, f) == (0, 0, 0, 0) {
                        return self.check(IpAddr::V4(embedded(g, h)));
                    }
                    if self == PeerPolicy::PublicOnly {
                        return forbidden("loopback or private");
                    }
                    return Ok(());
                }
                if a == 0x2002 {
                    return self.check(IpAddr::V4(embedded(b, c)));
                }
                if (a, b, c, d, e, f) == (0, 0, 0, 0, 0, 0)
                    && !v6.is_loopback()
                    && !v6.is_unspecified()
                {
                    return self.check(IpAddr::V4(embedded(g, h)));
                }
                let first = a;
                if v6.is_unspecified() {
                    return forbidden("unspecified");
                }
                if first & 0xffc0 == 0xfe80 {
                    return forbidden("link-local");
                }
                if v6.is_multicast() {
                    return forbidden("multicast or reserved");
                }
                if first == 0x2001 && v6.segments()[1] == 0x0db8 {
                    return forbidden("documentation range");
                }
                // Unique local (fc00::/7) and the deprecated site-local (fec0::/10).
                let local =
                    v6.is_loopback() || first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0;
                if local && self == PeerPolicy::PublicOnly {
                    return forbidden("loopback or private");
                }
            }
        }
        Ok(())
    }
}

impl PeerPolicy {
    /// Checks a host name before it is resolved: under [`PeerPolicy::PublicOnly`], the
    /// names that mean this machine (`localhost`, `localhost.`, `*.localhost`,
    /// `ip6-localhost`, `ip6-loopback`) are refused without asking a resolver.
    ///
    /// # Errors
    ///
    /// [`PeerUrlError::Forbidden`].
    pub fn check_name(self, name: &str) -> Result<(), PeerUrlError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let local = name == "localhost"
            || name.ends_with(".localhost")
            || name == "ip6-localhost"
            || name == "ip6-loopback";
        if local && self == PeerPolicy::PublicOnly {
            return Err(PeerUrlError::Forbidden(name, "loopback or private"));
        }
        Ok(())
    }

    /// Resolves a peer's host name and checks every address it resolves to: a name with
    /// one address the policy forbids is refused whole (a name whose answers change, as
    /// in DNS rebinding, gains nothing by mixing them).
    ///
    /// # Errors
    ///
    /// [`PeerUrlError::Forbidden`] for a forbidden name or address,
    /// [`PeerUrlError::Unresolved`] if the name has no address.
    pub async fn resolve(self, name: &str) -> Result<Vec<SocketAddr>, PeerUrlError> {
        self.check_name(name)?;
        self.resolve_and_check(name).await
    }

    /// Resolves `name` and checks every address it resolves to.
    async fn resolve_and_check(self, name: &str) -> Result<Vec<SocketAddr>, PeerUrlError> {
        let unresolved = |reason: String| PeerUrlError::Unresolved(name.to_owned(), reason);
        // Each lookup takes a blocking thread (getaddrinfo) that a timeout does not free:
        // a few at a time, so names that never resolve cannot take the pool that block
        // checks and store reads share.
        static LOOKUPS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);
        let _turn = LOOKUPS.acquire().await.map_err(|e| unresolved(e.to_string()))?;
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, 0))
            .await
            .map_err(|e| unresolved(e.to_string()))?
            .collect();
        if addrs.is_empty() {
            return Err(unresolved("no address".to_owned()));
        }
        for addr in &addrs {
            self.check(addr.ip())?;
        }
        Ok(addrs)
    }

    /// Checks a normalised peer URL's host name by resolving it, as a registration does:
    /// every address must pass. A name that does not resolve now is refused under
    /// [`PeerPolicy::PublicOnly`] (it can't be checked) and taken otherwise (it is checked
    /// again whenever it is dialled). IP literals were checked when the URL was normalised.
    ///
    /// # Errors
    ///
    /// The [`PeerUrlError`] that says why.
    pub async fn check_url_host(self, url: &PeerUrl) -> Result<(), PeerUrlError> {
        let url = url.as_str();
        let name = if url.starts_with('/') {
            use libp2p::multiaddr::Protocol as Part;
            let addr: libp2p::Multiaddr = url.parse().map_err(|e: libp2p::multiaddr::Error| {
                PeerUrlError::Multiaddr(url.to_owned(), e.to_string())
            })?;
            match addr.iter().next() {
                Some(Part::Dns(name) | Part::Dns4(name) | Part::Dns6(name)) => name.into_owned(),
                _ => return Ok(()),
            }
        } else {
            let parsed = Url::parse(url)
                .map_err(|e| PeerUrlError::Invalid(url.to_owned(), e.to_string()))?;
            let Some(url::Host::Domain(name)) = parsed.host() else { return Ok(()) };
            name.to_owned()
        };
        let name = name.as_str();
        let resolved = tokio::time::timeout(RESOLVE_TIMEOUT, self.resolve(name)).await;
        let resolved = resolved.unwrap_or_else(|_| {
            Err(PeerUrlError::Unresolved(name.to_owned(), "no answer in time".to_owned()))
        });
        match resolved {
            Err(PeerUrlError::Unresolved(..)) if self == PeerPolicy::AllowLocal => Ok(()),
            checked => checked.map(drop),
        }
    }
}

/// A peer's address, checked and written canonically: an HTTP(S) node's base URL,
/// `scheme://host:port` (a bare `host:port` means `http://host:port`, as the original's
/// `urlparse` read it), or a libp2p multiaddr, `/ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT/p2p/ID`.
///
/// Only [`PeerUrl::parse`] (or [`str::parse`], with [`PeerPolicy::AllowLocal`]) makes one, so
/// a registry, a dial or a store of peers never holds an unchecked string.
///
/// ```
/// use gophercoin_http::{PeerPolicy, PeerUrl};
///
/// let peer: PeerUrl = "127.0.0.1:5001".parse()?;
/// assert_eq!(peer.as_str(), "http://127.0.0.1:5001");
/// assert!(PeerUrl::parse("http://localhost:5001", PeerPolicy::PublicOnly).is_err());
/// assert!("ftp://example.com".parse::<PeerUrl>().is_err());
/// # Ok::<(), gophercoin_http::PeerUrlError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct PeerUrl(String);

impl PeerUrl {
    /// Checks and normalises a peer address, refusing IP addresses (and names of this
    /// machine) the policy forbids.
    ///
    /// # Errors
    ///
    /// The [`PeerUrlError`] that says why.
    pub fn parse(input: &str, policy: PeerPolicy) -> Result<PeerUrl, PeerUrlError> {
        normalize(input, policy).map(PeerUrl)
    }

    /// The address as written canonically.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is a libp2p multiaddr (reached over the peer network only) rather than
    /// an HTTP URL.
    pub fn is_multiaddr(&self) -> bool {
        self.0.starts_with('/')
    }
}

impl std::str::FromStr for PeerUrl {
    type Err = PeerUrlError;

    /// [`PeerUrl::parse`] with [`PeerPolicy::AllowLocal`].
    fn from_str(input: &str) -> Result<PeerUrl, PeerUrlError> {
        PeerUrl::parse(input, PeerPolicy::AllowLocal)
    }
}

impl std::fmt::Display for PeerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<PeerUrl> for String {
    fn from(url: PeerUrl) -> String {
        url.0
    }
}

/// Normalises a peer address to `scheme://host:port` or a canonical multiaddr, refusing
/// anything else and what the policy forbids.
fn normalize(input: &str, policy: PeerPolicy) -> Result<String, PeerUrlError> {
    let input = input.trim();
    if input.len() > MAX_URL_LEN {
        return Err(PeerUrlError::TooLong);
    }
    if input.starts_with('/') {
        return normalize_multiaddr(input, policy);
    }
    let with_scheme =
        if input.contains("://") { input.to_owned() } else { format!("http://{input}") };
    let url = Url::parse(&with_scheme)
        .map_err(|e| PeerUrlError::Invalid(input.to_owned(), e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(PeerUrlError::Scheme(url.scheme().to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(PeerUrlError::Credentials);
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(PeerUrlError::NotBase);
    }
    let host = url
        .host_str()
        .ok_or_else(|| PeerUrlError::Invalid(input.to_owned(), "no host".to_owned()))?;
    match url.host() {
        Some(url::Host::Ipv4(ip)) => policy.check(ip.into())?,
        Some(url::Host::Ipv6(ip)) => policy.check(ip.into())?,
        Some(url::Host::Domain(name)) => policy.check_name(name)?,
        None => {}
    }
    let port = url
        .port_or_known_default()
        .ok_or_else(|| PeerUrlError::Invalid(input.to_owned(), "no port".to_owned()))?;
    Ok(format!("{}://{host}:{port}", url.scheme()))
}

/// A peer's libp2p address: `/ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT/p2p/PEER_ID`, its
/// host checked against the policy, written canonically.
fn normalize_multiaddr(input: &str, policy: PeerPolicy) -> Result<String, PeerUrlError> {
    use libp2p::multiaddr::Protocol as Part;
    let bad = |reason: &str| PeerUrlError::Multiaddr(input.to_owned(), reason.to_owned());
    let addr: libp2p::Multiaddr =
        input.parse().map_err(|e: libp2p::multiaddr::Error| bad(&e.to_string()))?;
    let parts: Vec<Part<'_>> = addr.iter().collect();
    let [host, Part::Tcp(_), Part::P2p(_)] = parts.as_slice() else {
        return Err(bad("not HOST, tcp and p2p parts"));
    };
    match host {
        Part::Ip4(ip) => policy.check((*ip).into())?,
        Part::Ip6(ip) => policy.check((*ip).into())?,
        Part::Dns(name) | Part::Dns4(name) | Part::Dns6(name) => policy.check_name(name)?,
        _ => return Err(bad("the host is not ip4, ip6 or dns")),
    }
    Ok(addr.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text form, as the tests compare it.
    fn normalize_peer_url(input: &str) -> Result<String, PeerUrlError> {
        input.parse::<PeerUrl>().map(String::from)
    }

    fn normalize_peer_url_with(input: &str, policy: PeerPolicy) -> Result<String, PeerUrlError> {
        PeerUrl::parse(input, policy).map(String::from)
    }

    #[test]
    fn peer_multiaddrs_are_normalised_or_refused() {
        let id = "12D3KooWDy4NMx6r8RRxqLDKV44MnBHFpL7hA4fCG9jVSc1njw3L";
        let ok = |s: &str| normalize_peer_url(s).unwrap();
        let addr = format!("/ip4/127.0.0.1/tcp/6000/p2p/{id}");
        assert_eq!(ok(&addr), addr);
        assert_eq!(
            ok(&format!(" /dns4/node.example/tcp/6000/p2p/{id} ")),
            format!("/dns4/node.example/tcp/6000/p2p/{id}")
        );
        let refused = |s: &str| normalize_peer_url(s).unwrap_err();
        for bad in [
            "/ip4/127.0.0.1/tcp/6000".to_owned(), // no identity to expect
            format!("/ip4/127.0.0.1/udp/6000/quic-v1/p2p/{id}"),
            format!("/ip4/127.0.0.1/tcp/6000/p2p/{id}/p2p-circuit"),
            format!("/unix/tmp/p2p/{id}"),
            "/ip4/127.0.0.1/tcp/6000/p2p/not-a-peer-id".to_owned(),
        ] {
            assert!(matches!(refused(&bad), PeerUrlError::Multiaddr(..)), "{bad}");
        }
        // The policy holds for multiaddrs as for URLs.
        assert!(matches!(
            refused(&format!("/ip4/169.254.169.254/tcp/80/p2p/{id}")),
            PeerUrlError::Forbidden(..)
        ));
        let public = |s: &str| normalize_peer_url_with(s, PeerPolicy::PublicOnly);
        assert!(matches!(public(&addr), Err(PeerUrlError::Forbidden(..))));
        assert!(matches!(
            public(&format!("/dns/localhost/tcp/1/p2p/{id}")),
            Err(PeerUrlError::Forbidden(..))
        ));
        assert!(matches!(
            public(&format!("/ip6/::1/tcp/1/p2p/{id}")),
            Err(PeerUrlError::Forbidden(..))
        ));
        assert!(public(&format!("/ip4/8.8.8.8/tcp/1/p2p/{id}")).is_ok());
    }

    #[test]
    fn peer_urls_are_normalised_or_refused() {
        let ok = |s: &str| normalize_peer_url(s).unwrap();
        assert_eq!(ok("http://127.0.0.1:5001"), "http://127.0.0.1:5001");
        assert_eq!(ok("http://127.0.0.1:5001/"), "http://127.0.0.1:5001");
        assert_eq!(ok("127.0.0.1:5001"), "http://127.0.0.1:5001");
        assert_eq!(ok("localhost:5001"), "http://localhost:5001");
        assert_eq!(ok("http://example.test"), "http://example.test:80");
        assert_eq!(normalize_peer_url("ftp://x:1"), Err(PeerUrlError::Scheme("ftp".into())));
        assert_eq!(
            normalize_peer_url("file:///etc/passwd"),
            Err(PeerUrlError::Scheme("file".into()))
        );
        assert_eq!(normalize_peer_url("http://u:p@h:1"), Err(PeerUrlError::Credentials));
        assert_eq!(normalize_peer_url("http://h:1/chain"), Err(PeerUrlError::NotBase));
        assert_eq!(normalize_peer_url("http://h:1/?a=b"), Err(PeerUrlError::NotBase));
        assert_eq!(normalize_peer_url(&"a".repeat(300)), Err(PeerUrlError::TooLong));
        assert!(matches!(normalize_peer_url("http://"), Err(PeerUrlError::Invalid(..))));
    }

    #[test]
    fn addresses_that_are_never_peers_are_refused_without_dialing() {
        let refused = |url: &str, policy| {
            matches!(normalize_peer_url_with(url, policy), Err(PeerUrlError::Forbidden(..)))
        };
        for url in [
            "http://0.0.0.0:5000",
            "http://169.254.169.254",
            "http://[fe80::1]:80",
            "http://224.0.0.1:1",
            "http://255.255.255.255:1",
            "http://192.0.2.1:1",
            "http://[2001:db8::1]:1",
            "http://[::]:1",
            "http://[::ffff:169.254.169.254]:80",
            "http://240.0.0.1:1",
        ] {
            assert!(refused(url, PeerPolicy::AllowLocal), "{url}");
        }
        for url in [
            "http://127.0.0.1:5001",
            "http://10.1.2.3:5000",
            "http://192.168.1.2:1",
            "http://[::1]:1",
            "http://[fd00::1]:1",
            "http://100.64.0.1:1",
            // Private IPv4 addresses inside IPv6 forms a gateway would unwrap.
            "http://[64:ff9b::a00:1]:1",
            "http://[64:ff9b:1::1]:1",
            "http://[2002:c0a8:0101::1]:1",
            "http://[::10.0.0.1]:1",
            "http://[fec0::1]:1",
        ] {
            assert!(!refused(url, PeerPolicy::AllowLocal), "{url}");
            assert!(refused(url, PeerPolicy::PublicOnly), "{url}");
        }
        for url in ["http://[64:ff9b::a9fe:a9fe]:80", "http://[2002:a9fe:a9fe::1]:80"] {
            assert!(refused(url, PeerPolicy::AllowLocal), "link-local inside IPv6: {url}");
        }
        assert!(!refused("http://[64:ff9b::808:808]:1", PeerPolicy::PublicOnly));
        for url in ["http://8.8.8.8:5000", "http://[2606:4700::1]:80", "http://node.example:5000"] {
            assert!(!refused(url, PeerPolicy::PublicOnly), "{url}");
        }
        // Names of this machine, refused before any resolver is asked.
        for url in [
            "http://localhost:5000",
            "http://LOCALHOST.:5000",
            "http://node.localhost:1",
            "http://ip6-localhost:1",
            "http://ip6-loopback:1",
        ] {
            assert!(!refused(url, PeerPolicy::AllowLocal), "{url}");
            assert!(refused(url, PeerPolicy::PublicOnly), "{url}");
        }
    }

    /// The addresses a name resolves to are checked, not only its spelling: `localhost`
    /// (from the hosts file) resolves to loopback, which a public node refuses.
    #[tokio::test]
    async fn every_address_a_name_resolves_to_is_checked() {
        let allowed = PeerPolicy::AllowLocal.resolve_and_check("localhost").await;
        assert!(allowed.expect("localhost resolves").iter().all(|a| a.ip().is_loopback()));
        let refused = PeerPolicy::PublicOnly.resolve_and_check("localhost").await;
        assert!(matches!(refused, Err(PeerUrlError::Forbidden(..))), "{refused:?}");
    }
}
