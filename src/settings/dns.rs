//! The `[dns]` section: the RPZ and DNSBL zones, the DNS listener and its TCP connection
//! limits, NOTIFY targets, who may transfer the zone, and the TSIG keys. Serving DNS is left to `dns`; this module checks the
//! names and addresses, and keeps TSIG secrets out of `Debug` output.

use std::net::SocketAddr;

use serde::Deserialize;

use super::{SettingsError, invalid, positive};
use crate::model::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsSettings {
    /// Origin of the RPZ zone served at `/v1/rpz` and by the DNS listener.
    pub rpz_zone: String,
    /// Name server named in the zone's NS and SOA records.
    pub rpz_ns: String,
    /// Mailbox of the zone's SOA record, in DNS form.
    pub rpz_hostmaster: String,
    /// TTL of the zone's records.
    pub rpz_ttl: u32,
    /// When set, listed names are rewritten to this host (`CNAME notice.example.`) instead of
    /// answering NXDOMAIN (`CNAME .`).
    pub rpz_notice_host: String,
    /// Address and port of the DNS listener, UDP and TCP on the same port; empty turns it off.
    pub listen: String,
    /// Resolvers (`host:port`) sent a NOTIFY after each change of the zone.
    pub notify: Vec<String>,
    /// Addresses or CIDR blocks allowed to transfer the RPZ zone (AXFR, IXFR).
    pub transfer_allow: Vec<String>,
    /// TSIG keys; when any is configured, transfers need a valid signature by one of them.
    pub tsig_keys: Vec<TsigKeySettings>,
    /// Origin of the DNSBL zone answered by the listener; empty turns it off.
    pub dnsbl_zone: String,
    /// Tasks answering UDP queries; 0 means one per core.
    pub workers: usize,
    /// TCP connections open at once, from all sources together.
    pub tcp_max_connections: usize,
    /// TCP connections open at once from one address.
    pub tcp_max_per_source: usize,
    /// Of `tcp_max_connections`, how many only `transfer_allow` addresses may use, so that no
    /// other client can keep the resolvers from transferring the zone.
    pub tcp_transfer_reserve: usize,
    /// How long a TCP connection may go without a new query (or without reading any of an
    /// answer) before it is closed.
    pub tcp_idle_timeout_ms: u64,
}

/// Bounds of `dns.tcp_idle_timeout_ms`: below, a client on a slow path cannot send its next
/// query in time; above, idle clients hold connections long enough to crowd others out.
const TCP_IDLE_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 100..=120_000;

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings {
            rpz_zone: "rpz.siteban.".into(),
            rpz_ns: "localhost.".into(),
            rpz_hostmaster: "hostmaster.localhost.".into(),
            rpz_ttl: 60,
            rpz_notice_host: String::new(),
            listen: String::new(),
            notify: Vec::new(),
            transfer_allow: vec!["127.0.0.1".into(), "::1".into()],
            tsig_keys: Vec::new(),
            dnsbl_zone: "dnsbl.siteban.".into(),
            workers: 0,
            tcp_max_connections: 256,
            tcp_max_per_source: 16,
            tcp_transfer_reserve: 16,
            // RFC 7766 (6.2.3) asks for idle timeouts of the order of seconds.
            tcp_idle_timeout_ms: 5000,
        }
    }
}

/// One TSIG key (RFC 8945). The secret never appears in `Debug` output.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TsigKeySettings {
    /// Key name, as both sides spell it (`transfer-key.` or `transfer-key`).
    pub name: String,
    /// Only `hmac-sha256` is accepted.
    pub algorithm: String,
    /// The shared secret, base64 as `tsig-keygen` prints it.
    pub secret: Secret,
}

impl DnsSettings {
    /// The names of the RPZ zone's SOA and NS records, which even the HTTP `/v1/rpz` needs.
    /// `Settings::validate` checks these before the other sections and the rest of `[dns]`
    /// after them, the order in which errors have always been reported.
    pub(super) fn validate_zone_names(&self) -> Result<(), SettingsError> {
        for (key, name) in [
            ("dns.rpz_zone", &self.rpz_zone),
            ("dns.rpz_ns", &self.rpz_ns),
            ("dns.rpz_hostmaster", &self.rpz_hostmaster),
        ] {
            if !is_absolute_name(name) {
                return Err(invalid(key, "must be an absolute DNS name ending in a dot"));
            }
        }
        Ok(())
    }

    /// The rest of `[dns]`: the notice host, the DNSBL zone, the listener and transfers.
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        for (key, name) in [
            ("dns.rpz_notice_host", &self.rpz_notice_host),
            ("dns.dnsbl_zone", &self.dnsbl_zone),
        ] {
            if !name.is_empty() && !is_absolute_name(name) {
                return Err(invalid(
                    key,
                    "must be empty or an absolute DNS name ending in a dot",
                ));
            }
        }
        if !self.dnsbl_zone.is_empty() {
            let (rpz, dnsbl) = (
                self.rpz_zone.to_ascii_lowercase(),
                self.dnsbl_zone.to_ascii_lowercase(),
            );
            if rpz.ends_with(&format!(".{dnsbl}"))
                || dnsbl.ends_with(&format!(".{rpz}"))
                || rpz == dnsbl
            {
                return Err(invalid(
                    "dns.dnsbl_zone",
                    "must not be dns.rpz_zone, nor above or below it",
                ));
            }
        }
        self.listen_addr()?;
        for target in &self.notify {
            if target.parse::<SocketAddr>().is_err() {
                return Err(invalid(
                    "dns.notify",
                    format!("{target:?} is not an address and port such as 127.0.0.1:53"),
                ));
            }
        }
        for allowed in &self.transfer_allow {
            if parse_network(allowed).is_none() {
                return Err(invalid(
                    "dns.transfer_allow",
                    format!("{allowed:?} is not an address or CIDR block such as 192.0.2.0/24"),
                ));
            }
        }
        self.validate_tcp()?;
        self.validate_tsig_keys()
    }

    fn validate_tcp(&self) -> Result<(), SettingsError> {
        positive([
            ("dns.tcp_max_connections", self.tcp_max_connections as u64),
            ("dns.tcp_max_per_source", self.tcp_max_per_source as u64),
        ])?;
        if self.tcp_max_per_source > self.tcp_max_connections {
            return Err(invalid(
                "dns.tcp_max_per_source",
                "must not be above dns.tcp_max_connections",
            ));
        }
        if self.tcp_transfer_reserve >= self.tcp_max_connections {
            return Err(invalid(
                "dns.tcp_transfer_reserve",
                "must be below dns.tcp_max_connections, or no other client could connect",
            ));
        }
        if !TCP_IDLE_TIMEOUT_MS.contains(&self.tcp_idle_timeout_ms) {
            return Err(invalid(
                "dns.tcp_idle_timeout_ms",
                format!(
                    "must be from {} to {} milliseconds",
                    TCP_IDLE_TIMEOUT_MS.start(),
                    TCP_IDLE_TIMEOUT_MS.end()
                ),
            ));
        }
        Ok(())
    }

    fn validate_tsig_keys(&self) -> Result<(), SettingsError> {
        let mut names = std::collections::HashSet::new();
        for key in &self.tsig_keys {
            let name = key.name.trim_end_matches('.').to_ascii_lowercase();
            if name.is_empty() || !is_absolute_name(&format!("{name}.")) {
                return Err(invalid(
                    "dns.tsig_keys",
                    format!("key name {:?} is not a DNS name", key.name),
                ));
            }
            if !names.insert(name) {
                return Err(invalid(
                    "dns.tsig_keys",
                    format!("key name {:?} is given twice", key.name),
                ));
            }
            if !key.algorithm.eq_ignore_ascii_case("hmac-sha256") {
                return Err(invalid(
                    "dns.tsig_keys",
                    format!(
                        "key {:?}: algorithm {:?} is not supported; use hmac-sha256",
                        key.name, key.algorithm
                    ),
                ));
            }
            use base64::Engine;
            match base64::engine::general_purpose::STANDARD.decode(key.secret.expose().trim()) {
                Ok(secret) if secret.len() >= 16 => {}
                Ok(_) => {
                    return Err(invalid(
                        "dns.tsig_keys",
                        format!("key {:?}: the secret must be at least 16 bytes", key.name),
                    ));
                }
                Err(_) => {
                    return Err(invalid(
                        "dns.tsig_keys",
                        format!("key {:?}: the secret is not base64", key.name),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The DNS listener's address, or `None` when it is off.
    pub fn listen_addr(&self) -> Result<Option<SocketAddr>, SettingsError> {
        if self.listen.is_empty() {
            return Ok(None);
        }
        self.listen.parse().map(Some).map_err(|e| {
            invalid(
                "dns.listen",
                format!("{e}: expected an address and port such as 127.0.0.1:5353"),
            )
        })
    }
}

fn is_absolute_name(name: &str) -> bool {
    name.ends_with('.')
        && name.len() >= 2
        && name.len() <= 254
        && name[..name.len() - 1]
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63)
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

/// An address or CIDR block of `dns.transfer_allow`; a bare address is a block of one.
pub fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    #[test]
    fn dns_settings_are_checked_and_errors_name_the_key() {
        type Tweak = Box<dyn Fn(&mut DnsSettings)>;
        let cases: Vec<(&str, Tweak)> = vec![
            ("dns.listen", Box::new(|d| d.listen = "port 53".into())),
            (
                "dns.notify",
                Box::new(|d| d.notify = vec!["resolver".into()]),
            ),
            (
                "dns.transfer_allow",
                Box::new(|d| d.transfer_allow = vec!["10.0.0.0/33".into()]),
            ),
            (
                "dns.dnsbl_zone",
                Box::new(|d| d.dnsbl_zone = "dnsbl".into()),
            ),
            (
                "dns.dnsbl_zone",
                Box::new(|d| d.dnsbl_zone = "x.rpz.siteban.".into()),
            ),
            (
                "dns.rpz_notice_host",
                Box::new(|d| d.rpz_notice_host = "notice example".into()),
            ),
            (
                "dns.tcp_max_connections",
                Box::new(|d| d.tcp_max_connections = 0),
            ),
            (
                "dns.tcp_max_per_source",
                Box::new(|d| d.tcp_max_per_source = 0),
            ),
            (
                "dns.tcp_max_per_source",
                Box::new(|d| d.tcp_max_per_source = d.tcp_max_connections + 1),
            ),
            (
                "dns.tcp_transfer_reserve",
                Box::new(|d| d.tcp_transfer_reserve = d.tcp_max_connections),
            ),
            (
                "dns.tcp_idle_timeout_ms",
                Box::new(|d| d.tcp_idle_timeout_ms = 99),
            ),
            (
                "dns.tcp_idle_timeout_ms",
                Box::new(|d| d.tcp_idle_timeout_ms = 120_001),
            ),
            (
                "dns.tsig_keys",
                Box::new(|d| {
                    d.tsig_keys = vec![TsigKeySettings {
                        name: "k.".into(),
                        algorithm: "hmac-md5".into(),
                        secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQ=".into(),
                    }]
                }),
            ),
            (
                "dns.tsig_keys",
                Box::new(|d| {
                    d.tsig_keys = vec![TsigKeySettings {
                        name: "k.".into(),
                        algorithm: "hmac-sha256".into(),
                        secret: "not base64!".into(),
                    }]
                }),
            ),
        ];
        for (key, tweak) in cases {
            let mut settings = Settings::default();
            tweak(&mut settings.dns);
            let error = settings.validate().unwrap_err().to_string();
            assert!(error.contains(key), "{key}: {error}");
        }
        let mut settings = Settings::default();
        settings.dns.listen = "127.0.0.1:5353".into();
        settings.dns.notify = vec!["127.0.0.1:53".into()];
        settings.dns.transfer_allow = vec!["192.0.2.0/24".into(), "2001:db8::1".into()];
        settings.dns.rpz_notice_host = "notice.example.".into();
        settings.dns.tcp_max_connections = 1;
        settings.dns.tcp_max_per_source = 1;
        settings.dns.tcp_transfer_reserve = 0;
        settings.dns.tcp_idle_timeout_ms = 100;
        settings.dns.tsig_keys = vec![TsigKeySettings {
            name: "transfer-key".into(),
            algorithm: "hmac-sha256".into(),
            secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQ=".into(),
        }];
        settings.validate().unwrap();
        assert!(!format!("{settings:?}").contains("c2VjcmV0"));
    }
}
