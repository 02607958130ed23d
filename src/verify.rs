//! `siteban verify`: what a provider or an auditor runs against a registry to check the list
//! it is given against the transparency log. The checkpoint must be signed by the pinned key
//! and consistent with the last one this verifier accepted (kept in a small state file), so a
//! registry that shows one party another history than before, or than others were shown,
//! is caught; a snapshot or an RPZ file must be the active set the log's events make, replayed
//! from the feed. The log's arithmetic is `tlog`'s; the node is reached through `remote`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tlog_tiles::Hash;

use crate::model::{Event, EventKind};
use crate::remote::{Node, RemoteError};
use crate::tlog::{self, Tree, Verified, decode_hash, encode_hash};

/// Why a verification did not pass.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The registry gave something the log contradicts: a forged or foreign checkpoint, a
    /// rewritten history, a list the log does not make. Exit status 1.
    #[error("{0}")]
    Tampered(String),
    /// The check could not be made (the node unreachable, the feed trimmed, a file
    /// unreadable). Exit status 2.
    #[error("{0}")]
    Unverified(String),
}

impl From<RemoteError> for Failure {
    fn from(e: RemoteError) -> Failure {
        Failure::Unverified(e.to_string())
    }
}

/// The last checkpoint this verifier accepted.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    pub origin: String,
    pub size: u64,
    /// Base64.
    pub root: String,
    /// The checkpoint's signed text.
    pub checkpoint: String,
}

/// A list to check against the log.
pub enum List<'a> {
    /// A `GET /v1/snapshot` answer (JSON).
    Snapshot(&'a Path),
    /// A `GET /v1/rpz` zone file.
    Rpz(&'a Path),
}

/// What a verification found.
#[derive(Debug)]
pub struct Report {
    pub size: u64,
    /// The size of the checkpoint it was checked consistent with, if any.
    pub previous: Option<u64>,
    /// The tree size of the list checked, if any.
    pub list_size: Option<u64>,
    pub entries: Option<usize>,
}

/// Verifies the node's latest checkpoint against the pinned `verifier` key and origin, and
/// against the state in `state_path`; then `list`, if given. The state is rewritten only when
/// everything passed.
pub async fn verify(
    node: &Node,
    verifier: &str,
    origin: &str,
    witnesses: &[String],
    state_path: &Path,
    list: Option<List<'_>>,
) -> Result<Report, Failure> {
    let note = if witnesses.is_empty() {
        node.read(
            "/v1/log/checkpoint",
            "reading the checkpoint",
            crate::remote::FEED_KEY,
        )
        .await?
    } else {
        node.read(
            "/v1/log/witnessed",
            "reading the witnessed checkpoint",
            crate::remote::FEED_KEY,
        )
        .await?
    };
    let checkpoint = tlog::open_checkpoint(&note, verifier, origin)
        .map_err(|e| Failure::Tampered(format!("the checkpoint does not verify: {e}")))?;
    for witness in witnesses {
        let key = tlog::WitnessKey::parse(witness)
            .map_err(|e| Failure::Unverified(format!("--witness {witness}: {e}")))?;
        let text = tlog::note_text(&note).unwrap_or_default();
        let signatures = String::from_utf8_lossy(&note[text.len()..]).into_owned();
        if !signatures
            .lines()
            .any(|line| key.cosigned(text, line).is_some())
        {
            return Err(Failure::Unverified(format!(
                "the checkpoint of {} leaves is not cosigned by the witness {}",
                checkpoint.size, key.name
            )));
        }
    }
    let state = read_state(state_path)?;
    let previous = match &state {
        // The witnessed checkpoint may lag the latest one an earlier run accepted.
        Some(state) if !witnesses.is_empty() && checkpoint.size < state.size => {
            return Err(Failure::Unverified(format!(
                "the latest witnessed checkpoint ({} leaves) is older than the one accepted \
                 before ({}); verify again once the witnesses have cosigned a newer one",
                checkpoint.size, state.size
            )));
        }
        Some(state) => Some(consistent(node, state, &checkpoint).await?),
        None => None,
    };
    let (list_size, entries) = match list {
        Some(list) => {
            let (size, entries) = check_list(node, &checkpoint, list).await?;
            (Some(size), Some(entries))
        }
        None => (None, None),
    };
    write_state(
        state_path,
        &State {
            origin: checkpoint.origin.clone(),
            size: checkpoint.size,
            root: encode_hash(&checkpoint.root),
            checkpoint: String::from_utf8_lossy(&note).into_owned(),
        },
    )?;
    Ok(Report {
        size: checkpoint.size,
        previous,
        list_size,
        entries,
    })
}

fn read_state(path: &Path) -> Result<Option<State>, Failure> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Failure::Unverified(format!("the state file {} is damaged: {e}", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::Unverified(format!(
            "cannot read the state file {}: {e}",
            path.display()
        ))),
    }
}

/// Writes the state through a synced temporary file renamed over the old one.
fn write_state(path: &Path, state: &State) -> Result<(), Failure> {
    let write = || -> std::io::Result<()> {
        let temporary = path.with_extension("tmp");
        let mut file = std::fs::File::create(&temporary)?;
        std::io::Write::write_all(&mut file, &serde_json::to_vec_pretty(state)?)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    };
    write().map_err(|e| {
        Failure::Unverified(format!(
            "cannot write the state file {}: {e}",
            path.display()
        ))
    })
}

/// Checks that `checkpoint` extends the one of `state`; answers the older size.
async fn consistent(node: &Node, state: &State, checkpoint: &Verified) -> Result<u64, Failure> {
    let old_root = decode_hash(&state.root)
        .ok_or_else(|| Failure::Unverified("the state file's root is not a hash".into()))?;
    if state.origin != checkpoint.origin {
        return Err(Failure::Unverified(format!(
            "the state file is of the log {:?}, not {:?}",
            state.origin, checkpoint.origin
        )));
    }
    if checkpoint.size < state.size {
        return Err(Failure::Tampered(format!(
            "the log went back: it now has {} leaves, and had {} in the checkpoint accepted before",
            checkpoint.size, state.size
        )));
    }
    if checkpoint.size == state.size {
        if checkpoint.root != old_root {
            return Err(Failure::Tampered(format!(
                "split view: two different trees of {} leaves were signed (root {} before, {} now)",
                state.size,
                state.root,
                encode_hash(&checkpoint.root)
            )));
        }
        return Ok(state.size);
    }
    if state.size > 0 {
        let proof = consistency_proof(node, state.size, checkpoint.size).await?;
        if !tlog::check_consistency(
            &proof,
            checkpoint.size,
            checkpoint.root,
            state.size,
            old_root,
        ) {
            return Err(Failure::Tampered(format!(
                "split view or rewritten history: the tree of {} leaves is not an extension of \
                 the tree of {} leaves accepted before (root {})",
                checkpoint.size, state.size, state.root
            )));
        }
    }
    Ok(state.size)
}

#[derive(Deserialize)]
struct ConsistencyAnswer {
    proof: Vec<String>,
}

async fn consistency_proof(node: &Node, from: u64, to: u64) -> Result<Vec<Hash>, Failure> {
    let body = node
        .read(
            &format!("/v1/log/consistency?from={from}&to={to}"),
            "reading a consistency proof",
            crate::remote::FEED_KEY,
        )
        .await?;
    let answer: ConsistencyAnswer = serde_json::from_slice(&body)
        .map_err(|e| Failure::Unverified(format!("the consistency proof is unreadable: {e}")))?;
    answer
        .proof
        .iter()
        .map(|h| decode_hash(h))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| Failure::Tampered("the consistency proof holds a non-hash".into()))
}

/// One active entry as a snapshot shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Active {
    scope: String,
    entry_id: String,
    category: String,
    status: String,
}

#[derive(Deserialize)]
struct Snapshot {
    seq: u64,
    entries: Vec<SnapshotEntry>,
}

#[derive(Deserialize)]
struct SnapshotEntry {
    domain: String,
    #[serde(flatten)]
    active: Active,
}

#[derive(Deserialize)]
struct FeedPage {
    events: Vec<Event>,
}

/// Checks `list` against the log: the feed's events up to the list's size must make the
/// tree the checkpoint commits to, and replayed they must make the list. Answers the list's
/// size and its number of entries.
async fn check_list(
    node: &Node,
    checkpoint: &Verified,
    list: List<'_>,
) -> Result<(u64, usize), Failure> {
    let unreadable = |path: &Path, e: &dyn std::fmt::Display| {
        Failure::Unverified(format!("cannot read {}: {e}", path.display()))
    };
    let (size, wanted) = match list {
        List::Snapshot(path) => {
            let bytes = std::fs::read(path).map_err(|e| unreadable(path, &e))?;
            let snapshot: Snapshot =
                serde_json::from_slice(&bytes).map_err(|e| unreadable(path, &e))?;
            let mut set = BTreeMap::new();
            for entry in snapshot.entries {
                if set.insert(entry.domain.clone(), entry.active).is_some() {
                    return Err(Failure::Tampered(format!(
                        "the snapshot lists {} twice",
                        entry.domain
                    )));
                }
            }
            (snapshot.seq, Wanted::Snapshot(set))
        }
        List::Rpz(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| unreadable(path, &e))?;
            let (serial, names) = read_zone(&text)
                .map_err(|e| Failure::Tampered(format!("{}: {e}", path.display())))?;
            (
                size_of_serial(serial, checkpoint.size)?,
                Wanted::Zone(names),
            )
        }
    };
    if size > checkpoint.size {
        return Err(Failure::Unverified(format!(
            "the list is of {size} events, newer than the latest checkpoint ({}); verify again \
             in a second",
            checkpoint.size
        )));
    }
    let (root, replayed) = replay(node, size).await?;
    let matches = if size == 0 {
        true
    } else if size == checkpoint.size {
        root == checkpoint.root
    } else {
        let proof = consistency_proof(node, size, checkpoint.size).await?;
        tlog::check_consistency(&proof, checkpoint.size, checkpoint.root, size, root)
    };
    if !matches {
        return Err(Failure::Tampered(format!(
            "the feed's first {size} events are not the ones the signed log holds"
        )));
    }
    let differences = wanted.differences(&replayed);
    if !differences.is_empty() {
        return Err(Failure::Tampered(format!(
            "the list is not the one the log's {size} events make: {}",
            differences.join("; ")
        )));
    }
    Ok((size, wanted.len()))
}

/// The feed's first `size` events, read from the node, as a tree's root and the active set
/// they make.
async fn replay(node: &Node, size: u64) -> Result<(Hash, BTreeMap<String, Active>), Failure> {
    let mut tree = Tree::empty();
    let mut set = BTreeMap::new();
    while tree.size() < size {
        let limit = (size - tree.size()).min(10_000);
        let path = format!("/v1/feed?after={}&limit={limit}", tree.size());
        let body = node
            .read(&path, "reading the feed", crate::remote::FEED_KEY)
            .await
            .map_err(|e| match e {
                RemoteError::Answer { status: 410, .. } => Failure::Unverified(
                    "the registry's feed no longer holds its first events, so the list cannot be \
                 replayed here; an auditor who follows the feed from the start can"
                        .into(),
                ),
                e => e.into(),
            })?;
        let page: FeedPage = serde_json::from_slice(&body)
            .map_err(|e| Failure::Unverified(format!("a page of the feed is unreadable: {e}")))?;
        if page.events.is_empty() {
            return Err(Failure::Tampered(format!(
                "the feed stops at {} events, and the list is of {size}",
                tree.size()
            )));
        }
        for event in page.events.into_iter().take((size - tree.size()) as usize) {
            if event.seq != tree.size() + 1 {
                return Err(Failure::Tampered(format!(
                    "the feed gives event {} after {}",
                    event.seq,
                    tree.size()
                )));
            }
            tree.append(tlog::leaf_hash(&event));
            apply(&mut set, event);
        }
    }
    Ok((tree.root(), set))
}

fn apply(set: &mut BTreeMap<String, Active>, event: Event) {
    let domain = event.domain.as_str().to_string();
    match event.kind {
        EventKind::Listed | EventKind::Suspended => {
            let status = if event.kind == EventKind::Suspended {
                "suspended"
            } else {
                "active"
            };
            set.insert(
                domain,
                Active {
                    scope: event.scope.as_str().to_string(),
                    entry_id: event.entry_id.to_string(),
                    category: event.category.as_str().to_string(),
                    status: status.to_string(),
                },
            );
        }
        EventKind::Lifted | EventKind::Expired => {
            if set
                .get(&domain)
                .is_some_and(|a| a.entry_id == event.entry_id.to_string())
            {
                set.remove(&domain);
            }
        }
    }
}

/// The list checked, as the verifier reads it.
enum Wanted {
    Snapshot(BTreeMap<String, Active>),
    /// The zone's owner names, relative to its origin.
    Zone(std::collections::BTreeSet<String>),
}

impl Wanted {
    fn len(&self) -> usize {
        match self {
            Wanted::Snapshot(set) => set.len(),
            Wanted::Zone(names) => names.len(),
        }
    }

    /// What differs from the replayed set, at most ten items.
    fn differences(&self, replayed: &BTreeMap<String, Active>) -> Vec<String> {
        let mut found = Vec::new();
        match self {
            Wanted::Snapshot(set) => {
                for (domain, active) in set {
                    match replayed.get(domain) {
                        None => found.push(format!(
                            "{domain} is listed but the log lifted or never listed it"
                        )),
                        Some(logged) if logged != active => {
                            found.push(format!("{domain} differs from the log's entry"));
                        }
                        Some(_) => {}
                    }
                }
                for domain in replayed.keys().filter(|d| !set.contains_key(*d)) {
                    found.push(format!("{domain} is missing, and the log lists it"));
                }
            }
            Wanted::Zone(names) => {
                let mut expected = std::collections::BTreeSet::new();
                for (domain, active) in replayed.iter().filter(|(_, a)| a.status == "active") {
                    expected.insert(domain.clone());
                    if active.scope == "subtree" {
                        expected.insert(format!("*.{domain}"));
                    }
                }
                for name in names.difference(&expected) {
                    found.push(format!(
                        "{name} is in the zone, and the log does not list it"
                    ));
                }
                for name in expected.difference(names) {
                    found.push(format!(
                        "{name} is missing from the zone, and the log lists it"
                    ));
                }
            }
        }
        found.truncate(10);
        found
    }
}

/// The tree size a zone of SOA serial `serial` (the size's low 32 bits) is of, near the
/// checkpoint's `size`: serials compare as RFC 1982 says, so a zone a little newer than the
/// checkpoint is newer, not four billion events older.
fn size_of_serial(serial: u32, size: u64) -> Result<u64, Failure> {
    let ahead = serial.wrapping_sub(size as u32);
    let found = if ahead < 1 << 31 {
        size.checked_add(u64::from(ahead))
    } else {
        size.checked_sub(u64::from(ahead.wrapping_neg()))
    };
    found.ok_or_else(|| {
        Failure::Tampered(format!(
            "the zone's serial {serial} is of no tree the log has had"
        ))
    })
}

/// The SOA serial and the owner names of the CNAME records of an RPZ zone file as `GET
/// /v1/rpz` writes it. Every record must have the same target, and one that blocks: an
/// `rpz-passthru.` record lets a name through.
fn read_zone(text: &str) -> Result<(u32, std::collections::BTreeSet<String>), String> {
    let mut serial = None;
    let mut names = std::collections::BTreeSet::new();
    let mut targets = std::collections::BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["$ORIGIN", ..] | ["$TTL", ..] | ["@", "NS", ..] => {}
            ["@", "SOA", _, _, value, ..] => {
                serial = Some(
                    value
                        .parse()
                        .map_err(|_| format!("the SOA serial {value:?} is not a number"))?,
                );
            }
            [name, "CNAME", target] => {
                if target.starts_with("rpz-passthru") {
                    return Err(format!("{name} is let through ({target})"));
                }
                targets.insert(target.to_string());
                if targets.len() > 1 {
                    return Err("its records point at different targets".into());
                }
                if !names.insert(name.to_string()) {
                    return Err(format!("{name} is in it twice"));
                }
            }
            _ => return Err(format!("a line that is not of an RPZ zone: {line:?}")),
        }
    }
    Ok((serial.ok_or("the zone has no SOA record")?, names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zone_is_read_back_as_written() {
        let text = "$ORIGIN rpz.example.\n$TTL 60\n@ SOA ns.example. hostmaster.example. 42 3600 600 86400 60\n@ NS ns.example.\nshop.example.cn CNAME .\n*.shop.example.cn CNAME .\n";
        let (serial, names) = read_zone(text).unwrap();
        assert_eq!(serial, 42);
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["*.shop.example.cn", "shop.example.cn"]
        );
        assert!(read_zone("shop.example.cn A 192.0.2.1\n").is_err());
        assert!(read_zone("x.example.cn CNAME .\n").is_err());
        let soa = "@ SOA ns. h. 1 1 1 1 1\n";
        assert!(read_zone(&format!("{soa}a.cn CNAME rpz-passthru.\n")).is_err());
        assert!(read_zone(&format!("{soa}a.cn CNAME .\nb.cn CNAME *.\n")).is_err());
        assert!(read_zone(&format!("{soa}a.cn CNAME .\na.cn CNAME .\n")).is_err());
    }

    #[test]
    fn a_serial_names_the_size_nearest_the_checkpoint() {
        assert_eq!(size_of_serial(1000, 1000).unwrap(), 1000);
        assert_eq!(size_of_serial(997, 1000).unwrap(), 997);
        assert_eq!(size_of_serial(1003, 1000).unwrap(), 1003);
        let big = (5u64 << 32) + 10;
        assert_eq!(size_of_serial(5, big).unwrap(), big - 5);
        assert_eq!(size_of_serial(20, big).unwrap(), big + 10);
        assert!(size_of_serial(u32::MAX, 3).is_err());
    }
}
