//! Locating a site: its addresses (following CNAMEs) and the name servers of its zone, looked
//! up with hickory's resolver against the configured upstream servers, then mapped to the
//! providers that host those addresses or run those name servers. Lookups are bounded in time
//! and paced by the node's quota (`locate.max_queries_per_second`, which counts lookups: a
//! lookup is all the queries of locating one site); a failure is reported in
//! the result, never raised. Names are compared as A-labels: hickory prints names in Unicode,
//! and an IDN zone would otherwise never match its owner names.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};

use crate::domain::DomainName;
use crate::model::LocationStatus;
use crate::notices::model::{LocatedProvider, Location, Provider};
use crate::settings::LocateSettings;

#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("cannot build the DNS resolver: {0}")]
    Resolver(String),
}

pub struct Locator {
    resolver: TokioResolver,
    /// The node's quota of lookups (sites located) per second, shared by every caller.
    quota: DefaultDirectRateLimiter,
}

impl Locator {
    pub fn new(settings: &LocateSettings) -> Result<Locator, LocateError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = if settings.nameservers.is_empty() {
            // Without a usable /etc/resolv.conf the node still starts: listings go on, and
            // each location records the lookup failure.
            Resolver::builder(provider.clone()).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "no system resolver configuration; set locate.nameservers to locate sites");
                Resolver::builder_with_config(ResolverConfig::from_name_servers(Vec::new()), provider)
            })
        } else {
            let servers = settings
                .nameservers
                .iter()
                .filter_map(|s| s.parse::<SocketAddr>().ok())
                .map(|address| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = address.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = address.port();
                    NameServerConfig::new(address.ip(), true, vec![udp, tcp])
                })
                .collect();
            Resolver::builder_with_config(ResolverConfig::from_name_servers(servers), provider)
        };
        let options = builder.options_mut();
        options.timeout = Duration::from_millis(settings.timeout_ms);
        options.attempts = settings.attempts;
        // Keep the CNAME chain in answers: it is part of what locating reports.
        options.preserve_intermediates = true;
        // Regulators need what the name resolves to now, not minutes ago.
        options.cache_size = 0;
        let resolver = builder
            .build()
            .map_err(|e| LocateError::Resolver(e.to_string()))?;
        let rate = NonZeroU32::new(settings.max_queries_per_second).unwrap_or(NonZeroU32::MIN);
        // A burst no larger than the lookups that run at once: resolvers drop parts of bursts.
        let burst = NonZeroU32::new((settings.concurrency as u32).clamp(1, rate.get()))
            .unwrap_or(NonZeroU32::MIN);
        let quota = RateLimiter::direct(Quota::per_second(rate).allow_burst(burst));
        Ok(Locator { resolver, quota })
    }

    /// Looks the site up, spending at most `budget` on it, and maps what it finds to
    /// `providers`. What was found before a failure or the end of the budget is kept.
    pub async fn locate(
        &self,
        domain: &DomainName,
        providers: &[Provider],
        budget: Duration,
    ) -> Location {
        // One lookup of the quota, taken before the budget starts to run.
        self.quota.until_ready().await;
        let mut errors = Vec::new();
        let (addresses, zone) = tokio::join!(
            tokio::time::timeout(budget, self.addresses(domain)),
            tokio::time::timeout(budget, self.zone_nameservers(domain)),
        );
        let (addresses, cnames) = match addresses {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                errors.push(format!("addresses: {e}"));
                (Vec::new(), Vec::new())
            }
            Err(_) => {
                errors.push(format!(
                    "addresses: no answer within {} ms",
                    budget.as_millis()
                ));
                (Vec::new(), Vec::new())
            }
        };
        let (zone, nameservers) = match zone {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                errors.push(format!("name servers: {e}"));
                (None, Vec::new())
            }
            Err(_) => {
                errors.push(format!(
                    "name servers: no answer within {} ms",
                    budget.as_millis()
                ));
                (None, Vec::new())
            }
        };
        let providers = providers
            .iter()
            .filter_map(|p| {
                p.serves(&addresses, &nameservers)
                    .map(|why| LocatedProvider {
                        id: p.id.clone(),
                        name: p.name.clone(),
                        kind: p.kind,
                        matched_by: why,
                    })
            })
            .collect();
        Location {
            status: if errors.is_empty() {
                LocationStatus::Located
            } else {
                LocationStatus::Failed
            },
            attempts: 0,
            addresses,
            cnames,
            zone,
            nameservers,
            providers,
            located_at: Some(crate::model::now()),
            error: (!errors.is_empty()).then(|| errors.join("; ")),
            next_attempt_at: None,
            history: Vec::new(),
        }
    }

    /// The addresses of the name and the CNAME chain that led to them. A name without
    /// addresses is an empty answer, not an error.
    async fn addresses(&self, domain: &DomainName) -> Result<(Vec<IpAddr>, Vec<String>), String> {
        match self.resolver.lookup_ip(format!("{domain}.")).await {
            Ok(lookup) => {
                let mut addresses: Vec<IpAddr> = lookup.iter().collect();
                addresses.sort();
                addresses.dedup();
                // The A and AAAA answers each carry the chain: keep each link once, in order.
                let mut cnames: Vec<String> = Vec::new();
                for record in lookup.as_lookup().answers() {
                    if let RData::CNAME(target) = &record.data {
                        let target = ascii(&target.0);
                        if !cnames.contains(&target) {
                            cnames.push(target);
                        }
                    }
                }
                Ok((addresses, cnames))
            }
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok((Vec::new(), Vec::new())),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The name servers of the closest zone holding the name: the name's own NS records, or
    /// its parent's, up to the registrable domain (the public suffix's servers belong to the
    /// registry, not to the site).
    async fn zone_nameservers(
        &self,
        domain: &DomainName,
    ) -> Result<(Option<String>, Vec<DomainName>), String> {
        let registrable = psl::domain_str(domain.as_str()).unwrap_or(domain.as_str());
        for zone in domain.suffixes() {
            let found = match self
                .resolver
                .lookup(format!("{zone}."), RecordType::NS)
                .await
            {
                Ok(lookup) => lookup
                    .answers()
                    .iter()
                    .filter(|record| ascii(&record.name) == zone)
                    .filter_map(|record| match &record.data {
                        RData::NS(ns) => DomainName::parse(&ascii(&ns.0)).ok(),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
                Err(e) if e.is_no_records_found() || e.is_nx_domain() => Vec::new(),
                Err(e) => return Err(e.to_string()),
            };
            if !found.is_empty() {
                let mut found = found;
                found.sort();
                found.dedup();
                return Ok((Some(zone.to_string()), found));
            }
            if zone.len() <= registrable.len() {
                break;
            }
        }
        Ok((None, Vec::new()))
    }
}

/// A name as lower-case A-labels without the final dot, the form `DomainName` holds.
fn ascii(name: &Name) -> String {
    let text = name.to_ascii();
    text.strip_suffix('.').unwrap_or(&text).to_ascii_lowercase()
}
