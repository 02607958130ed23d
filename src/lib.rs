//! siteban: the shared national registry of illegal online-trading websites.
//!
//! Layout, from the top down (see `ARCHITECTURE.md` for the data flow and the invariants; a
//! module imports only modules below it):
//!
//! - [`commands`], [`remote`]: the maintenance commands, on the store or on a running node
//!   over its HTTP API.
//! - [`startup`], [`import`]: building and running a node; reading a bulk-import file.
//! - [`console`]: the staff console and the public pages (HTML, Chinese and English), on the
//!   API's parsing and the registry's use cases.
//! - [`api`]: HTTP routes, request parsing, the JSON of the contract, rate limits.
//! - [`dns`]: the DNS listener: the RPZ zone by transfer and NOTIFY, and the DNSBL zone.
//! - [`registry`]: every use case of the registry: the rules, the one atomic write of each
//!   step, read-your-writes; the feed follower and the sweepers.
//! - [`delivery`]: the notice service: locating sites, planning notices, delivering them.
//! - [`store`]: durable storage behind traits, embedded (redb) or Redis.
//! - [`cases`]: the regulation's referral workflow as data and pure rules.
//! - [`records`]: shared business registrations and website recordals, their validation and
//!   the findings of `/v1/verify`.
//! - [`notices`]: providers and notices as data, and webhook signing.
//! - [`index`]: the in-memory index that answers every check.
//! - [`auth`]: tokens, the key cache and the role policy of each endpoint.
//! - [`audit`]: the chained audit record.
//! - [`model`]: the registry's records (entries, events, keys, locations).
//! - [`domain`]: values parsed once at the edge (names, decisions, codes); pure, no I/O.
//! - [`settings`], [`telemetry`], [`metrics`]: running a node.

pub mod api;
pub mod audit;
pub mod auth;
pub mod cases;
pub mod commands;
pub mod console;
pub mod delivery;
pub mod dns;
pub mod domain;
pub mod import;
pub mod index;
pub mod metrics;
pub mod model;
pub mod notices;
pub mod records;
pub mod registry;
pub mod remote;
pub mod settings;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tlog;
pub mod verify;
