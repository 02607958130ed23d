//! The RPZ zone as data: its settings, its records from one index view, the differences
//! between two versions from feed events (for IXFR), serial arithmetic (RFC 1982) and the
//! zone file text of `/v1/rpz`. Pure: no I/O, no wire format.

use std::collections::{BTreeSet, HashMap};

use super::wire::RData;
use crate::domain::Scope;
use crate::index::View;
use crate::model::{Event, EventKind};
use crate::settings::DnsSettings;

/// SOA timers: refresh, retry, expire. Resolvers are told of changes by NOTIFY; refresh is
/// the fallback when a NOTIFY is lost.
pub const SOA_REFRESH: u32 = 3600;
pub const SOA_RETRY: u32 = 600;
pub const SOA_EXPIRE: u32 = 86400;

/// The zone's fixed parts, from `dns.*` settings: names in lower case without the final dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneConfig {
    pub origin: String,
    pub ns: String,
    pub hostmaster: String,
    pub ttl: u32,
    /// The CNAME target of every listed name: `""` (the root, NXDOMAIN) or the notice host.
    pub target: String,
}

impl ZoneConfig {
    pub fn from_settings(dns: &DnsSettings) -> ZoneConfig {
        let bare = |name: &str| name.trim_end_matches('.').to_ascii_lowercase();
        ZoneConfig {
            origin: bare(&dns.rpz_zone),
            ns: bare(&dns.rpz_ns),
            hostmaster: bare(&dns.rpz_hostmaster),
            ttl: dns.rpz_ttl,
            target: bare(&dns.rpz_notice_host),
        }
    }

    /// The zone's SOA record at `serial`, as DNS answers, transfers and NOTIFYs carry it.
    pub fn soa(&self, serial: u32) -> RData<'_> {
        RData::Soa {
            mname: &self.ns,
            rname: &self.hostmaster,
            serial,
            refresh: SOA_REFRESH,
            retry: SOA_RETRY,
            expire: SOA_EXPIRE,
            minimum: self.ttl,
        }
    }

    /// A short fingerprint of everything but the content, for the HTTP `ETag`.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!(
            "{}|{}|{}|{}|{}",
            self.origin, self.ns, self.hostmaster, self.ttl, self.target
        ));
        hex::encode(&digest[..6])
    }
}

/// The SOA serial for a feed sequence: the low 32 bits, which grow with every change and wrap
/// as RFC 1982 serial arithmetic expects.
pub fn soa_serial(seq: u64) -> u32 {
    seq as u32
}

/// `a < b` in RFC 1982 serial arithmetic (32 bits). Serials exactly 2^31 apart are
/// incomparable; this says `false` for them.
pub fn serial_lt(a: u32, b: u32) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000_0000
}

/// Where a client's serial stands against the zone at feed sequence `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialPosition {
    Current,
    /// Behind: the client holds the zone as of this feed sequence.
    Behind(u64),
    /// Ahead of this node, incomparable, or older than the feed's beginning: only a full
    /// transfer can help.
    Unknown,
}

pub fn position(seq: u64, client_serial: u32) -> SerialPosition {
    let current = soa_serial(seq);
    if client_serial == current {
        return SerialPosition::Current;
    }
    if !serial_lt(client_serial, current) {
        return SerialPosition::Unknown;
    }
    let behind = u64::from(current.wrapping_sub(client_serial));
    match seq.checked_sub(behind) {
        Some(from) => SerialPosition::Behind(from),
        None => SerialPosition::Unknown,
    }
}

/// The owners (relative to the origin) of the records of one entry: the name, and for a
/// subtree entry `*.name` as well, since a wildcard does not cover the name itself.
pub fn owners(domain: &str, subtree: bool) -> impl Iterator<Item = String> + '_ {
    std::iter::once(domain.to_string()).chain(subtree.then(|| format!("*.{domain}")))
}

/// What changed between two versions of the zone, as record owners relative to the origin.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Difference {
    pub removed: BTreeSet<String>,
    pub added: BTreeSet<String>,
}

/// The net difference made by `events` (consecutive, in order). A name's state before them
/// follows from its first event (a listing means it was not listed; a lift means it was, with
/// that scope) and its state after them from its last; records present in both are neither
/// removed nor added, so a lift followed by a relisting changes nothing it need not.
pub fn difference(events: &[Event]) -> Difference {
    let mut states: HashMap<&str, (Option<Scope>, Option<Scope>)> = HashMap::new();
    for event in events {
        let state = states.entry(event.domain.as_str()).or_insert_with(|| {
            // Suspensions are never in the zone: their events begin and end with nothing,
            // and a listing that replaces one starts from nothing too.
            let before = match event.kind {
                EventKind::Listed | EventKind::Suspended | EventKind::Expired => None,
                EventKind::Lifted => Some(event.scope),
            };
            (before, before)
        });
        state.1 = match event.kind {
            EventKind::Listed => Some(event.scope),
            EventKind::Lifted | EventKind::Suspended | EventKind::Expired => None,
        };
    }
    let mut difference = Difference::default();
    for (domain, (before, after)) in states {
        let set = |scope: Option<Scope>| -> BTreeSet<String> {
            scope
                .map(|s| owners(domain, s == Scope::Subtree).collect())
                .unwrap_or_default()
        };
        let (before, after) = (set(before), set(after));
        difference
            .removed
            .extend(before.difference(&after).cloned());
        difference.added.extend(after.difference(&before).cloned());
    }
    difference
}

/// The zone as an RPZ zone file: `$ORIGIN`, `$TTL`, SOA, NS, then every record with an owner
/// relative to the origin.
pub fn zone_text(view: &View, zone: &ZoneConfig) -> String {
    let mut out = Vec::with_capacity(view.len() * 48 + 256);
    write_zone(&mut out, view, zone).expect("writing to memory cannot fail");
    String::from_utf8(out).expect("the zone is ASCII")
}

/// Writes the zone file of `view` to `out` as it goes (a whole zone of ten million entries
/// is half a gigabyte: `/v1/rpz` streams it rather than building it first).
pub fn write_zone(
    out: &mut impl std::io::Write,
    view: &View,
    zone: &ZoneConfig,
) -> std::io::Result<()> {
    writeln!(out, "$ORIGIN {}.", zone.origin)?;
    writeln!(out, "$TTL {}", zone.ttl)?;
    writeln!(
        out,
        "@ SOA {}. {}. {} {SOA_REFRESH} {SOA_RETRY} {SOA_EXPIRE} {}",
        zone.ns,
        zone.hostmaster,
        soa_serial(view.seq()),
        zone.ttl
    )?;
    writeln!(out, "@ NS {}.", zone.ns)?;
    let target = if zone.target.is_empty() {
        ".".to_string()
    } else {
        format!("{}.", zone.target)
    };
    for (domain, record) in view.iter() {
        if record.is_suspended() {
            continue;
        }
        writeln!(out, "{domain} CNAME {target}")?;
        if record.is_subtree() {
            writeln!(out, "*.{domain} CNAME {target}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Category, DomainName};
    use proptest::prelude::*;

    fn event(seq: u64, kind: EventKind, domain: &str, scope: Scope) -> Event {
        Event {
            seq,
            kind,
            domain: DomainName::parse(domain).unwrap(),
            scope,
            entry_id: uuid::Uuid::from_u128(u128::from(seq)),
            category: Category::Fraud,
            at: time::OffsetDateTime::UNIX_EPOCH.into(),
        }
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn serial_arithmetic_wraps() {
        assert!(serial_lt(1, 2));
        assert!(!serial_lt(2, 1));
        assert!(!serial_lt(5, 5));
        assert!(serial_lt(u32::MAX, 0), "0 follows 2^32 - 1");
        assert!(serial_lt(u32::MAX - 10, 5));
        assert!(!serial_lt(0, 0x8000_0000), "2^31 apart is incomparable");
        assert!(!serial_lt(0x8000_0000, 0));
        assert_eq!(soa_serial((1 << 32) + 7), 7);
    }

    #[test]
    fn positions_map_serials_back_to_sequences() {
        assert_eq!(position(10, 10), SerialPosition::Current);
        assert_eq!(position(10, 7), SerialPosition::Behind(7));
        assert_eq!(position(10, 12), SerialPosition::Unknown);
        assert_eq!(position(3, u32::MAX), SerialPosition::Unknown);
        // Across the 32-bit wrap.
        let seq = (1u64 << 32) + 2;
        assert_eq!(
            position(seq, u32::MAX - 1),
            SerialPosition::Behind((1 << 32) - 2)
        );
    }

    #[test]
    fn differences_are_net_changes() {
        let events = [
            event(1, EventKind::Listed, "a.example.cn", Scope::Subtree),
            event(2, EventKind::Lifted, "b.example.cn", Scope::Exact),
            event(3, EventKind::Listed, "c.example.cn", Scope::Exact),
            event(4, EventKind::Lifted, "c.example.cn", Scope::Exact),
            event(5, EventKind::Lifted, "d.example.cn", Scope::Subtree),
            event(6, EventKind::Listed, "d.example.cn", Scope::Exact),
        ];
        let difference = difference(&events);
        assert_eq!(difference.added, set(&["a.example.cn", "*.a.example.cn"]));
        assert_eq!(difference.removed, set(&["b.example.cn", "*.d.example.cn"]));
    }

    #[test]
    fn the_zone_file_has_relative_owners_and_the_configured_target() {
        let index = crate::index::Index::new(16);
        let record = |name: &str, scope| crate::model::ActiveRecord {
            domain: DomainName::parse(name).unwrap(),
            entry_id: uuid::Uuid::from_u128(1),
            scope,
            category: Category::Fraud,
            suspended: false,
        };
        index.load(
            (1 << 32) + 5,
            &[
                record("tree.example.cn", Scope::Subtree),
                record("leaf.example.cn", Scope::Exact),
            ],
        );
        let mut settings = DnsSettings::default();
        let zone = ZoneConfig::from_settings(&settings);
        let text = zone_text(&index.view(), &zone);
        let mut lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "$ORIGIN rpz.siteban.");
        assert_eq!(
            lines[2],
            "@ SOA localhost. hostmaster.localhost. 5 3600 600 86400 60"
        );
        lines.sort();
        assert_eq!(
            lines,
            [
                "$ORIGIN rpz.siteban.",
                "$TTL 60",
                "*.tree.example.cn CNAME .",
                "@ NS localhost.",
                "@ SOA localhost. hostmaster.localhost. 5 3600 600 86400 60",
                "leaf.example.cn CNAME .",
                "tree.example.cn CNAME .",
            ]
        );
        assert!(text.contains("\nleaf.example.cn CNAME .\n"));
        assert!(!text.contains("*.leaf"), "an exact entry has no wildcard");

        settings.rpz_notice_host = "Notice.Example.".into();
        let noticed = ZoneConfig::from_settings(&settings);
        assert_ne!(noticed.fingerprint(), zone.fingerprint());
        let text = zone_text(&index.view(), &noticed);
        assert!(
            text.contains("\ntree.example.cn CNAME notice.example.\n"),
            "{text}"
        );
    }

    proptest! {
        /// Applying the difference of any run of events (listings, lifts, suspensions, their
        /// expiry and listings that replace them) to the zone before them gives the zone after
        /// them.
        #[test]
        fn differences_turn_one_version_into_the_next(
            ops in proptest::collection::vec((0usize..5, any::<bool>(), 0u8..3), 1..60),
            split in 0usize..60,
        ) {
            let names = ["a.example.cn", "b.example.cn", "c.a.example.cn", "d.example.net", "e.example.org"];
            let mut active: HashMap<&str, (Scope, bool)> = HashMap::new();
            let mut events = Vec::new();
            for (i, (n, subtree, choice)) in ops.iter().enumerate() {
                let name = names[*n];
                let seq = i as u64 + 1;
                let scope = if *subtree { Scope::Subtree } else { Scope::Exact };
                match active.get(name).copied() {
                    Some((old, false)) => {
                        active.remove(name);
                        events.push(event(seq, EventKind::Lifted, name, old));
                    }
                    Some((_, true)) if *choice == 1 => {
                        active.insert(name, (scope, false));
                        events.push(event(seq, EventKind::Listed, name, scope));
                    }
                    Some((old, true)) => {
                        active.remove(name);
                        events.push(event(seq, EventKind::Expired, name, old));
                    }
                    None => {
                        let suspended = *choice == 2;
                        active.insert(name, (scope, suspended));
                        let kind = if suspended { EventKind::Suspended } else { EventKind::Listed };
                        events.push(event(seq, kind, name, scope));
                    }
                }
            }
            let split = split.min(events.len());
            let zone_at = |upto: usize| -> BTreeSet<String> {
                let mut state: HashMap<&str, Scope> = HashMap::new();
                for e in &events[..upto] {
                    match e.kind {
                        EventKind::Listed => { state.insert(e.domain.as_str(), e.scope); }
                        _ => { state.remove(e.domain.as_str()); }
                    }
                }
                state.iter().flat_map(|(d, s)| owners(d, *s == Scope::Subtree)).collect()
            };
            let before = zone_at(split);
            let after = zone_at(events.len());
            let difference = difference(&events[split..]);
            prop_assert!(difference.removed.is_subset(&before));
            prop_assert!(difference.added.is_disjoint(&before));
            let mut patched: BTreeSet<String> = before.difference(&difference.removed).cloned().collect();
            patched.extend(difference.added.iter().cloned());
            prop_assert_eq!(patched, after);
        }
    }
}
