//! siteban: the shared national registry of illegal online-trading websites.
//!
//! Layout, by layer (see `ARCHITECTURE.md` for the data flow and the invariants):
//!
//! - [`domain`]: values parsed once at the edge (names, decisions, codes); pure, no I/O.
//! - [`model`]: the registry's records (entries, events, keys).
//! - [`store`]: durable storage behind one trait, embedded (redb) or Redis.
//! - [`index`]: the in-memory index that answers every check.
//! - [`auth`]: tokens, the key cache and the role policy of each endpoint.
//! - [`registry`]: one node's service: store, index and keys kept in step by the follower.
//! - [`api`]: HTTP routes and the JSON of the external contract.
//! - [`dns`]: the DNS listener: the RPZ zone by transfer and NOTIFY, and the DNSBL zone.
//! - [`settings`], [`telemetry`], [`metrics`], [`startup`]: running a node.
//! - [`import`]: bulk loading of entries from NDJSON.
//! - [`notices`]: providers, locating sites, notices to providers and their delivery.
//! - [`cases`]: the regulation's referral workflow: cases, routes, hand-overs, suspensions,
//!   closures and referrals between the two sides.
//! - [`records`]: shared business registrations and website recordals, their import and
//!   the cross-checks of `/v1/verify`.

pub mod api;
pub mod audit;
pub mod auth;
pub mod cases;
pub mod dns;
pub mod domain;
pub mod import;
pub mod index;
pub mod metrics;
pub mod model;
pub mod notices;
pub mod records;
pub mod registry;
pub mod settings;
pub mod startup;
pub mod store;
pub mod telemetry;
