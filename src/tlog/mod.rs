//! The transparency log over the feed, pure: event `seq` is leaf `seq - 1` of a Merkle tree
//! hashed as RFC 6962 / RFC 9162 hash it; the tree is stored as C2SP `tlog-tiles` and
//! published as C2SP `tlog-checkpoint`s, signed notes (C2SP `signed-note`, Ed25519). The
//! tile arithmetic, proofs and notes are the `tlog_tiles` and `signed_note` crates'; this
//! module is the one place that uses them. What is stored where is `registry::log`'s.

pub mod path;
pub mod tree;

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use tlog_tiles::{Checkpoint, HASH_SIZE, Hash, HashReader, Tile, record_hash};

use crate::model::Event;
pub use tree::{TileId, Tree};

/// The first line of every leaf: names the encoding, so that another can follow one day.
const LEAF_TAG: &str = "siteban/event/v1";

/// The bytes of the leaf of `event`: a tag line, then one `name value` line per field of the
/// event, in the feed's JSON order, each value exactly as the feed's JSON gives it.
pub fn leaf(event: &Event) -> Vec<u8> {
    format!(
        "{LEAF_TAG}\nseq {}\ntype {}\ndomain {}\nscope {}\nentry_id {}\ncategory {}\nat {}\n",
        event.seq,
        event.kind.as_str(),
        event.domain.as_str(),
        event.scope.as_str(),
        event.entry_id,
        event.category.as_str(),
        event.at,
    )
    .into_bytes()
}

/// The leaf hash of `event` (RFC 6962: SHA-256 of a zero byte and the leaf).
pub fn leaf_hash(event: &Event) -> Hash {
    record_hash(&leaf(event))
}

/// The leaf of audit record `seq` whose chained hash is `sha256`: the record's hash covers
/// its content and the hash before it, so the leaf commits to the whole chain up to it.
pub fn audit_leaf(seq: u64, sha256: &str) -> Vec<u8> {
    format!("siteban/audit/v1\nseq {seq}\nsha256 {sha256}\n").into_bytes()
}

pub fn audit_leaf_hash(seq: u64, sha256: &str) -> Hash {
    record_hash(&audit_leaf(seq, sha256))
}

/// The origin of the audit log's checkpoints: the feed log's, with `/audit` after it.
pub fn audit_origin(origin: &str) -> String {
    format!("{origin}/audit")
}

pub fn encode_hash(hash: &Hash) -> String {
    STANDARD.encode(hash.0)
}

pub fn decode_hash(text: &str) -> Option<Hash> {
    let bytes = STANDARD.decode(text).ok()?;
    Some(Hash(bytes.try_into().ok()?))
}

/// The log's signing key: a C2SP signed-note signer key (`PRIVATE+KEY+name+id+key`).
pub struct LogKey {
    signer: StandardSigner,
    origin: String,
    /// The verifier key (`name+id+key`), what clients pin.
    verifier: String,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKey")
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

/// A new signer key for the log named `origin`, from 32 bytes of the operating system's
/// random generator.
pub fn generate_key(origin: &str) -> Result<String, String> {
    if !signed_note::is_key_name_valid(origin) {
        return Err(format!(
            "the log's origin {origin:?} cannot name a key: no spaces or '+'"
        ));
    }
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    let mut public = vec![1u8];
    public.extend_from_slice(signing.verifying_key().as_bytes());
    let mut private = vec![1u8];
    private.extend_from_slice(&seed);
    Ok(format!(
        "PRIVATE+KEY+{origin}+{:08x}+{}",
        signed_note::key_id(origin, &public),
        STANDARD.encode(private)
    ))
}

impl LogKey {
    /// The key of signer key text `skey`, signing checkpoints of the log `origin`.
    pub fn new(skey: &str, origin: &str) -> Result<LogKey, String> {
        let signer = StandardSigner::new(skey.trim())
            .map_err(|e| format!("the log's signer key is not usable: {e}"))?;
        let seed = skey
            .trim()
            .splitn(5, '+')
            .nth(4)
            .and_then(|k| STANDARD.decode(k).ok())
            .filter(|k| k.len() == 33)
            .ok_or("the log's signer key is not an Ed25519 key")?;
        let signing = ed25519_dalek::SigningKey::try_from(&seed[1..])
            .map_err(|_| "the log's signer key is not an Ed25519 key")?;
        let name = signed_note::Signer::name(&signer).to_string();
        let verifier = signed_note::new_ed25519_verifier_key(&name, &signing.verifying_key());
        Ok(LogKey {
            signer,
            origin: origin.to_string(),
            verifier,
        })
    }

    /// The verifier key clients pin: `name+id+base64 key`.
    pub fn verifier(&self) -> &str {
        &self.verifier
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The signed checkpoint of the log `origin`, a tree of `size` leaves with root `root`.
    pub fn sign(&self, origin: &str, size: u64, root: Hash) -> Result<Vec<u8>, String> {
        let checkpoint =
            Checkpoint::new(origin, size, root, "").map_err(|e| format!("checkpoint: {e}"))?;
        let mut note = Note::new(&checkpoint.to_bytes(), &[]).map_err(|e| e.to_string())?;
        note.add_sigs(&[&self.signer]).map_err(|e| e.to_string())?;
        Ok(note.to_bytes())
    }
}

/// The origin of the log whose verifier key is `verifier` (`<origin>+<id>+<key>`): the key's
/// name, as `siteban log-key` and the key made at first start name it.
pub fn verifier_origin(verifier: &str) -> Result<String, String> {
    // Never the text itself in the error: it may be a signer key pasted in its place.
    let key = StandardVerifier::new(verifier.trim())
        .map_err(|e| format!("not a verifier key (<origin>+<id>+<key>): {e}"))?;
    Ok(signed_note::Verifier::name(&key).to_string())
}

/// A checkpoint whose signature by the pinned key was checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// The note's text as signed.
    pub text: Vec<u8>,
}

/// Opens signed checkpoint `note`: its signature by `verifier` (a verifier key,
/// `name+id+key`) must hold, and its origin must be `origin`. Other signatures (witnesses')
/// are let through unchecked.
pub fn open_checkpoint(note: &[u8], verifier: &str, origin: &str) -> Result<Verified, String> {
    let key = StandardVerifier::new(verifier.trim()).map_err(|e| format!("the pinned key: {e}"))?;
    let note = Note::from_bytes(note).map_err(|e| format!("the checkpoint's note: {e}"))?;
    note.verify(&VerifierList::new(vec![Box::new(key)]))
        .map_err(|e| format!("the checkpoint's signature: {e}"))?;
    let checkpoint = Checkpoint::from_bytes(note.text())
        .map_err(|_| "the checkpoint's text is malformed".to_string())?;
    if checkpoint.origin() != origin {
        return Err(format!(
            "the checkpoint is of the log {:?}, not {origin:?}",
            checkpoint.origin()
        ));
    }
    Ok(Verified {
        origin: checkpoint.origin().to_string(),
        size: checkpoint.size(),
        root: *checkpoint.hash(),
        text: note.text().to_vec(),
    })
}

/// What a proof reads hashes from: tiles at hand, or, to learn which tiles a proof needs, a
/// recorder of the hashes asked for (answering zeros).
pub enum Reader {
    Tiles(BTreeMap<TileId, Vec<u8>>),
    Recorder(std::cell::RefCell<Vec<u64>>),
}

impl HashReader for Reader {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        match self {
            Reader::Recorder(asked) => {
                asked.borrow_mut().extend_from_slice(indexes);
                Ok(vec![Hash([0; HASH_SIZE]); indexes.len()])
            }
            Reader::Tiles(tiles) => indexes
                .iter()
                .map(|&index| {
                    let tile = Tile::from_index(tree::TILE_HEIGHT, index);
                    let data = tiles
                        .get(&(tile.level(), tile.level_index()))
                        .ok_or(tlog_tiles::Error::IndexesNotInTree)?;
                    tile.hash_at_index(data, index)
                })
                .collect(),
        }
    }
}

/// The tiles `prove` reads in the tree of `size` leaves, with the width each has in that
/// tree: `prove` is run once over a recorder to learn which it asks for. The hashes a proof
/// reads depend only on the sizes and indexes it is given.
pub fn tiles_needed<T>(
    size: u64,
    prove: impl Fn(&Reader) -> Result<T, tlog_tiles::Error>,
) -> Vec<(TileId, u64)> {
    let recorder = Reader::Recorder(Default::default());
    let _ = prove(&recorder);
    let Reader::Recorder(asked) = recorder else {
        unreachable!("made a recorder above")
    };
    let mut tiles = BTreeMap::new();
    for index in asked.into_inner() {
        let tile = Tile::from_index(tree::TILE_HEIGHT, index);
        let id = (tile.level(), tile.level_index());
        tiles.insert(id, tree::tile_width(size, id));
    }
    tiles.into_iter().collect()
}

/// Whether `proof` shows leaf `index`, of hash `leaf`, in the tree of `size` leaves and root
/// `root`.
pub fn check_inclusion(proof: &[Hash], size: u64, root: Hash, index: u64, leaf: Hash) -> bool {
    index < size && tlog_tiles::check_record(&proof.to_vec(), size, root, index, leaf).is_ok()
}

/// Whether `proof` shows the tree of `old` leaves and root `old_root` to be a prefix of the
/// tree of `size` leaves and root `root`.
pub fn check_consistency(proof: &[Hash], size: u64, root: Hash, old: u64, old_root: Hash) -> bool {
    (1..=size).contains(&old)
        && tlog_tiles::check_tree(&proof.to_vec(), size, root, old, old_root).is_ok()
}

/// A witness's cosigning key (C2SP `tlog-cosignature`, timestamped Ed25519), from its
/// verifier key `<name>+<key id>+base64(0x04 || public key)`.
#[derive(Debug, Clone)]
pub struct WitnessKey {
    pub name: String,
    id: [u8; 4],
    key: ed25519_dalek::VerifyingKey,
}

/// The signature type of a timestamped Ed25519 cosignature.
const ALG_COSIGNATURE: u8 = 0x04;

impl WitnessKey {
    pub fn parse(vkey: &str) -> Result<WitnessKey, String> {
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("a witness key is <name>+<key id>+<base64 key>".into());
        };
        let key = STANDARD
            .decode(key)
            .map_err(|_| "the witness key is not base64".to_string())?;
        if key.len() != 33 || key[0] != ALG_COSIGNATURE {
            return Err("the witness key is not a timestamped Ed25519 (0x04) key".into());
        }
        let public: [u8; 32] = key[1..].try_into().expect("33 bytes less one");
        let key_id = cosigner_id(name, &public);
        if !signed_note::is_key_name_valid(name) || hex::encode(key_id) != id {
            return Err("the witness key's name or id does not match its key".into());
        }
        Ok(WitnessKey {
            name: name.to_string(),
            id: key_id,
            key: ed25519_dalek::VerifyingKey::from_bytes(&public)
                .map_err(|_| "the witness key is not an Ed25519 point".to_string())?,
        })
    }

    /// The time of `line`'s cosignature of the checkpoint text `text` (the note without its
    /// signatures), when `line` is this witness's signature line and it verifies.
    pub fn cosigned(&self, text: &[u8], line: &str) -> Option<u64> {
        let rest = line.strip_prefix("\u{2014} ")?;
        let (name, signature) = rest.split_once(' ')?;
        let signature = STANDARD.decode(signature.trim_end()).ok()?;
        if name != self.name || signature.len() != 4 + 8 + 64 || signature[..4] != self.id {
            return None;
        }
        let time = u64::from_be_bytes(signature[4..12].try_into().ok()?);
        let mut message = format!("cosignature/v1\ntime {time}\n").into_bytes();
        message.extend_from_slice(text);
        let signature = ed25519_dalek::Signature::from_slice(&signature[12..]).ok()?;
        self.key.verify_strict(&message, &signature).ok()?;
        Some(time)
    }
}

/// SHA-256(name || "\n" || 0x04 || public key)[:4].
fn cosigner_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ALG_COSIGNATURE]);
    hasher.update(public);
    hasher.finalize()[..4]
        .try_into()
        .expect("four bytes of a hash")
}

/// The body of a C2SP `tlog-witness` `add-checkpoint` request: the old size, the consistency
/// proof from it, an empty line, the signed checkpoint.
pub fn add_checkpoint_body(old: u64, proof: &[Hash], note: &[u8]) -> Vec<u8> {
    let mut body = format!("old {old}\n").into_bytes();
    for hash in proof {
        body.extend_from_slice(encode_hash(hash).as_bytes());
        body.push(b'\n');
    }
    body.push(b'\n');
    body.extend_from_slice(note);
    body
}

/// The text of a signed note: what its signatures sign, without them.
pub fn note_text(note: &[u8]) -> Option<&[u8]> {
    let at = note.windows(2).position(|w| w == b"\n\n")?;
    Some(&note[..=at])
}
