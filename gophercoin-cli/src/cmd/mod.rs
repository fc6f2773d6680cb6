//! The subcommands.

pub(crate) mod chain;
pub(crate) mod devnet;
pub(crate) mod mine;
pub(crate) mod node;
pub(crate) mod peers;
pub(crate) mod send;
pub(crate) mod sim;
pub(crate) mod wallet;
pub(crate) mod watch;

/// Which network a node joins (`--network`): each has its own genesis and chain id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum NetworkArg {
    /// The development network: 5-second blocks, the difficulty retargeted every 20.
    Devnet,
    /// For tests and scripts: the difficulty never retargets and stays at one hash in two,
    /// the reward halves every 150 blocks.
    Regtest,
}

impl NetworkArg {
    /// The network's consensus parameters.
    pub(crate) fn params(self) -> gophercoin_core::Params {
        match self {
            NetworkArg::Devnet => gophercoin_core::Params::devnet(),
            NetworkArg::Regtest => gophercoin_core::Params::regtest(),
        }
    }

    /// Its name, as `--network` takes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            NetworkArg::Devnet => "devnet",
            NetworkArg::Regtest => "regtest",
        }
    }
}

/// Resolves to `()` when Ctrl-C is pressed (never, if signals can't be watched).
pub(crate) async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Completes at Ctrl-C (SIGINT) or, on Unix, SIGTERM: what a terminal, a service manager
/// or `kill` sends to ask a program to stop.
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                () = ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    ctrl_c().await;
}
