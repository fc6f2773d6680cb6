//! Browser safety: which `Host` names the node serves, and where a request that changes
//! state may come from.
//!
//! A web page can make a browser send requests to the node: simple ones (an `<img>` or a
//! form) to any address, and, after rebinding a name it controls to 127.0.0.1, any request
//! at all, reading the answers as its own. So the node serves only requests whose `Host`
//! is an IP address (a rebound name never is), `localhost`, the host of its public URL, or
//! a name the operator allowed; and it refuses a request that changes state (`GET /mine`,
//! `GET /nodes/resolve`, any method but `GET`, `HEAD` and `OPTIONS`) when the browser says
//! it comes from another site (`Sec-Fetch-Site: cross-site`) or names another `Origin`.
//! Clients that are not browsers (curl, peers, the CLI) send neither header. The API sends
//! no CORS headers, so no other origin can read its answers either.

use std::net::IpAddr;

use axum::http::{HeaderMap, Method, StatusCode, header};

use crate::{config::NodeConfig, error::ApiError};

/// The names and origins a node answers to.
#[derive(Clone, Debug, Default)]
pub(crate) struct Site {
    /// Host names served besides IP addresses, lowercase, without ports.
    hosts: Vec<String>,
    /// Origins (`scheme://authority`, lowercase) a state-changing request may come from,
    /// besides the node's own `Host`.
    origins: Vec<String>,
}

impl Site {
    /// `localhost`, the configured extra names and the public URL's host.
    pub(crate) fn new(config: &NodeConfig) -> Site {
        let mut site = Site { hosts: vec!["localhost".into()], origins: vec![] };
        for name in &config.allowed_hosts {
            // A name, without a port (a port would never match).
            let name = name.trim().rsplit_once(':').map_or(name.trim(), |(name, _)| name);
            site.hosts.push(name.trim_end_matches('.').to_ascii_lowercase());
        }
        let public = config.public_url.as_deref().and_then(|u| url::Url::parse(u).ok());
        // Only an http(s) URL with a host has an origin ("null" must never be accepted).
        let public = public.filter(|u| matches!(u.scheme(), "http" | "https"));
        if let Some((url, host)) = public.as_ref().and_then(|u| u.host_str().map(|h| (u, h))) {
            site.hosts.push(host.trim_matches(['[', ']']).to_ascii_lowercase());
            site.origins.push(url.origin().ascii_serialization().to_ascii_lowercase());
        }
        site
    }

    /// Refuses a request for a host the node doesn't serve, or a state-changing request
    /// from another site.
    pub(crate) fn check(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        let host = match headers.get(header::HOST).map(|h| h.to_str()) {
            Some(Ok(host)) => Some(host.to_ascii_lowercase()),
            Some(Err(_)) => return Err(forbidden("forbidden_host", "the Host header is not text")),
            None => None,
        };
        if let Some(host) = host.as_deref().filter(|host| !self.serves(host)) {
            return Err(forbidden(
                "forbidden_host",
                format!("this node does not serve the host {host:?} (see --allow-host)"),
            ));
        }
        let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
            || matches!(path, "/mine" | "/nodes/resolve");
        if !changes_state {
            return Ok(());
        }
        // Only the node's own pages (same-origin) or the user (none: typed, bookmarked);
        // a same-site page on another port is another origin.
        let fetch_site = headers.get("sec-fetch-site").map(|v| v.to_str().unwrap_or("?"));
        if fetch_site.is_some_and(|site| {
            !site.eq_ignore_ascii_case("same-origin") && !site.eq_ignore_ascii_case("none")
        }) {
            return Err(forbidden(
                "cross_site",
                "a request from another site may not change state",
            ));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("null").to_ascii_lowercase();
            let own = host.as_deref().is_some_and(|host| {
                origin == format!("http://{host}") || origin == format!("https://{host}")
            });
            if !own && !self.origins.contains(&origin) {
                return Err(forbidden(
                    "cross_site",
                    format!("a request from {origin} may not change this node's state"),
                ));
            }
        }
        Ok(())
    }

    /// Whether the node serves `host` (a `Host` header's value, maybe with a port).
    fn serves(&self, host: &str) -> bool {
        let name = match host.rsplit_once(':') {
            // "[::1]:5000", "127.0.0.1:5000", "name:5000"; a bare "[::1]" has no port.
            Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                name
            }
            _ => host,
        };
        let name = name.trim_matches(['[', ']']).trim_end_matches('.');
        name.parse::<IpAddr>().is_ok() || self.hosts.iter().any(|served| served == name)
    }
}

fn forbidden(kind: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, kind, message)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn site() -> Site {
        let mut config = NodeConfig::new("127.0.0.1:5000".parse().unwrap(), "unused");
        config.allowed_hosts = vec!["Node.Example.".into(), "port.example:5000".into()];
        config.public_url = Some("https://coin.example:8443".into());
        Site::new(&config)
    }

    #[test]
    fn a_public_url_without_an_origin_never_admits_null() {
        for url in ["coin.example:8443", "file:///tmp/x", "data:text/plain,x"] {
            let mut config = NodeConfig::new("127.0.0.1:5000".parse().unwrap(), "unused");
            config.public_url = Some(url.into());
            let request = headers(&[("host", "127.0.0.1:5000"), ("origin", "null")]);
            let refused = Site::new(&config).check(&Method::POST, "/transactions/new", &request);
            assert_eq!(refused.unwrap_err().kind(), "cross_site", "{url}");
        }
    }

    #[test]
    fn hosts_are_ip_addresses_localhost_and_named_ones() {
        let site = site();
        for host in [
            "127.0.0.1:5000",
            "127.0.0.1",
            "[::1]:5000",
            "[::1]",
            "10.1.2.3:80",
            "localhost:5000",
            "LOCALHOST.",
            "node.example:5000",
            "port.example:5000",
            "coin.example:8443",
        ] {
            let request = headers(&[("host", host)]);
            assert!(site.check(&Method::GET, "/chain", &request).is_ok(), "{host}");
        }
        for host in ["evil.example:5000", "127.0.0.1.evil.example", "localhost.evil.example", ""] {
            let request = headers(&[("host", host)]);
            let error = site.check(&Method::GET, "/chain", &request).unwrap_err();
            assert_eq!((error.status(), error.kind()), (StatusCode::FORBIDDEN, "forbidden_host"));
        }
        // HTTP/1.0 without a Host: not a browser.
        assert!(site.check(&Method::GET, "/chain", &HeaderMap::new()).is_ok());
    }

    #[test]
    fn other_sites_may_read_nothing_and_change_nothing() {
        let site = site();
        let host = ("host", "127.0.0.1:5000");
        let cross = headers(&[host, ("sec-fetch-site", "cross-site")]);
        // A page on another port of the same host is same-site, but another origin.
        let sibling = headers(&[host, ("sec-fetch-site", "same-site")]);
        let foreign = headers(&[host, ("origin", "http://evil.example")]);
        let null = headers(&[host, ("origin", "null")]);
        for request in [&cross, &sibling, &foreign, &null] {
            for (method, path) in [
                (Method::GET, "/mine"),
                (Method::GET, "/nodes/resolve"),
                (Method::POST, "/transactions/new"),
            ] {
                let error = site.check(&method, path, request).unwrap_err();
                assert_eq!(error.kind(), "cross_site", "{method} {path}");
            }
            // Reading is harmless: no CORS header lets the page see the answer.
            assert!(site.check(&Method::GET, "/chain", request).is_ok());
        }
        // The node's own pages, and its public origin behind a proxy.
        for origin in ["http://127.0.0.1:5000", "https://coin.example:8443"] {
            let request = headers(&[host, ("origin", origin), ("sec-fetch-site", "same-origin")]);
            assert!(site.check(&Method::POST, "/transactions/new", &request).is_ok(), "{origin}");
        }
        // Clients that are not browsers send neither header.
        assert!(site.check(&Method::GET, "/mine", &headers(&[host])).is_ok());
    }
}
