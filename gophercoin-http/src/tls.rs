//! TLS for the HTTP clients (the peer client here, the command line's): rustls, with
//! ring as its cryptography (already built for the peer network's Noise handshakes, so
//! https adds no C or assembly to the build), and the operating system's certificate
//! store through reqwest's platform verifier.

/// Makes ring the process's rustls provider, unless one is installed already (an embedder
/// may have chosen its own). Call before building an HTTP client that may speak https.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may have installed one meanwhile: then that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
