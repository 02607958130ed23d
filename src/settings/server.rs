//! The `[server]` section: the HTTP listener, its workers, body limit, shutdown grace and TLS.
//! Binding the listener is left to `startup`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::{SettingsError, invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port of the HTTP listener.
    pub listen: String,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Grace period for in-flight requests at shutdown.
    pub shutdown_grace_seconds: u64,
    pub tls: TlsSettings,
}

/// HTTPS instead of HTTP on `server.listen`, when both paths are set.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert_path: Option<PathBuf>,
    /// PEM private key (PKCS #8, PKCS #1 or SEC1).
    pub key_path: Option<PathBuf>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8080".into(),
            workers: 0,
            body_limit_bytes: 4 * 1024 * 1024,
            shutdown_grace_seconds: 10,
            tls: TlsSettings::default(),
        }
    }
}

impl ServerSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        self.listen_addr()?;
        if self.tls.cert_path.is_some() != self.tls.key_path.is_some() {
            return Err(invalid(
                "server.tls.cert_path",
                "server.tls.cert_path and server.tls.key_path go together",
            ));
        }
        if self.body_limit_bytes < 1024 {
            return Err(invalid("server.body_limit_bytes", "must be at least 1024"));
        }
        Ok(())
    }

    /// The URL a process on this machine reaches the listener at: an unspecified address
    /// (`0.0.0.0`, `::`) becomes loopback, and the scheme follows the TLS keys.
    pub fn local_url(&self) -> String {
        let scheme = if self.tls.cert_path.is_some() {
            "https"
        } else {
            "http"
        };
        let address = match self.listen_addr() {
            Ok(mut address) => {
                if address.ip().is_unspecified() {
                    address.set_ip(match address {
                        SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                        SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                    });
                }
                address.to_string()
            }
            Err(_) => self.listen.clone(),
        };
        format!("{scheme}://{address}")
    }

    /// The HTTP listener's address.
    pub fn listen_addr(&self) -> Result<SocketAddr, SettingsError> {
        self.listen.parse().map_err(|e| {
            invalid(
                "server.listen",
                format!("{e}: expected an address and port such as 127.0.0.1:8080"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_url_reaches_the_listener_from_this_machine() {
        let url = |listen: &str, tls: bool| {
            let mut server = ServerSettings {
                listen: listen.into(),
                ..ServerSettings::default()
            };
            if tls {
                server.tls.cert_path = Some("cert.pem".into());
                server.tls.key_path = Some("key.pem".into());
            }
            server.local_url()
        };
        assert_eq!(url("127.0.0.1:8080", false), "http://127.0.0.1:8080");
        assert_eq!(url("0.0.0.0:8080", false), "http://127.0.0.1:8080");
        assert_eq!(url("[::]:8443", true), "https://[::1]:8443");
        assert_eq!(url("192.0.2.7:80", false), "http://192.0.2.7:80");
    }
}
