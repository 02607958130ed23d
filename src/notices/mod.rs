//! Notices as data: the providers told to stop serving a listed site, the notices they are
//! sent and every state change of a notice (`model`), and the signing of their webhooks
//! (`webhook`). Pure: the notice service that locates, plans and delivers is `delivery`, the
//! store keeps them (`store::notices`), the HTTP shapes are in `api`.

pub mod model;
pub mod webhook;

/// Makes ring the process's TLS crypto provider, once. reqwest is built without a provider of
/// its own (its default, aws-lc-rs, needs a C build), and panics when building a client
/// before one is installed; installing again is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
