//! TSIG (RFC 8945) with HMAC-SHA256: verifying signed requests and signing responses,
//! including the chained signatures of a multi-message zone transfer. Written on `hmac` and
//! `sha2` over the exact bytes sent and received, so that what is signed is what goes out.
//! Truncated MACs are not accepted; every message of a transfer is signed.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::wire::{CLASS_ANY, TYPE_TSIG, read_plain_name, skip_name};
use crate::settings::TsigKeySettings;

type HmacSha256 = Hmac<Sha256>;

pub const ALGORITHM: &str = "hmac-sha256";
/// Allowed clock difference, as most implementations use.
pub const FUDGE: u16 = 300;
const MAC_LEN: usize = 32;

pub const BADSIG: u16 = 16;
pub const BADKEY: u16 = 17;
pub const BADTIME: u16 = 18;

/// A configured key: its name in lower case without the final dot, and its secret.
pub struct Key {
    pub name: String,
    secret: Vec<u8>,
}

impl Key {
    pub fn new(name: &str, secret: Vec<u8>) -> Key {
        Key {
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            secret,
        }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.secret).expect("HMAC takes a key of any length")
    }
}

/// The configured keys. Empty means transfers need no signature.
#[derive(Default)]
pub struct Keys(Vec<Arc<Key>>);

impl Keys {
    /// Keys from settings that `Settings::validate` has checked.
    pub fn from_settings(keys: &[TsigKeySettings]) -> Keys {
        use base64::Engine;
        Keys(
            keys.iter()
                .filter_map(|k| {
                    let secret = base64::engine::general_purpose::STANDARD
                        .decode(k.secret.expose().trim())
                        .ok()?;
                    Some(Arc::new(Key::new(&k.name, secret)))
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, name: &str) -> Option<&Arc<Key>> {
        self.0.iter().find(|k| k.name == name)
    }
}

/// The TSIG record at the end of a message, as read from the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsigRecord {
    /// Where the record starts: the message without it is `message[..start]`.
    pub start: usize,
    pub key_name: String,
    pub algorithm: String,
    pub time: u64,
    pub fudge: u16,
    pub mac: Vec<u8>,
    pub original_id: u16,
    pub error: u16,
    pub other: Vec<u8>,
}

impl TsigRecord {
    /// The TSIG variables of RFC 8945 section 4.3.3 as this record states them.
    fn variables(&self) -> Vec<u8> {
        variables(
            &self.key_name,
            &self.algorithm,
            self.time,
            self.fudge,
            self.error,
            &self.other,
        )
    }
}

/// A message that cannot be walked, or whose TSIG record is malformed or not the last record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed message or TSIG record")]
pub struct Malformed;

/// Finds the TSIG record of `message`: it must be the last additional record.
pub fn find(message: &[u8]) -> Result<Option<TsigRecord>, Malformed> {
    let count = |i: usize| -> Result<usize, Malformed> {
        Ok(u16::from_be_bytes(
            message
                .get(i..i + 2)
                .ok_or(Malformed)?
                .try_into()
                .map_err(|_| Malformed)?,
        ) as usize)
    };
    let (qd, an, ns, ar) = (count(4)?, count(6)?, count(8)?, count(10)?);
    if ar == 0 {
        return Ok(None);
    }
    let mut pos = 12;
    for _ in 0..qd {
        pos = skip_name(message, pos).ok_or(Malformed)? + 4;
    }
    let mut last_start = pos;
    let mut last_type = 0;
    for _ in 0..an + ns + ar {
        last_start = pos;
        pos = skip_name(message, pos).ok_or(Malformed)?;
        let fixed = message.get(pos..pos + 10).ok_or(Malformed)?;
        last_type = u16::from_be_bytes([fixed[0], fixed[1]]);
        if last_type == TYPE_TSIG && pos + 10 + rdlength(fixed) != message.len() {
            return Err(Malformed);
        }
        pos += 10 + rdlength(fixed);
        if pos > message.len() {
            return Err(Malformed);
        }
    }
    if last_type != TYPE_TSIG {
        return Ok(None);
    }
    parse_record(message, last_start).map(Some).ok_or(Malformed)
}

fn rdlength(fixed: &[u8]) -> usize {
    u16::from_be_bytes([fixed[8], fixed[9]]) as usize
}

fn parse_record(message: &[u8], start: usize) -> Option<TsigRecord> {
    let (key_name, pos) = read_plain_name(message, start)?;
    let class = u16::from_be_bytes(message.get(pos + 2..pos + 4)?.try_into().ok()?);
    if class != CLASS_ANY {
        return None;
    }
    let mut pos = pos + 10;
    let (algorithm, next) = read_plain_name(message, pos)?;
    pos = next;
    let take = |pos: &mut usize, n: usize| -> Option<&[u8]> {
        let bytes = message.get(*pos..*pos + n)?;
        *pos += n;
        Some(bytes)
    };
    let time = take(&mut pos, 6)?
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let fudge = u16::from_be_bytes(take(&mut pos, 2)?.try_into().ok()?);
    let mac_len = u16::from_be_bytes(take(&mut pos, 2)?.try_into().ok()?) as usize;
    let mac = take(&mut pos, mac_len)?.to_vec();
    let original_id = u16::from_be_bytes(take(&mut pos, 2)?.try_into().ok()?);
    let error = u16::from_be_bytes(take(&mut pos, 2)?.try_into().ok()?);
    let other_len = u16::from_be_bytes(take(&mut pos, 2)?.try_into().ok()?) as usize;
    let other = take(&mut pos, other_len)?.to_vec();
    (pos == message.len()).then_some(TsigRecord {
        start,
        key_name,
        algorithm,
        time,
        fudge,
        mac,
        original_id,
        error,
        other,
    })
}

/// What the TSIG of a signed request says.
pub enum Verdict {
    /// Valid: sign the response with this.
    Signed(Signer),
    /// Invalid: answer NOTAUTH with this TSIG record in the response.
    Failed(Failure),
}

/// How to answer a request whose TSIG failed (RFC 8945 section 5.3.2 and 5.2.3).
pub struct Failure {
    pub error: u16,
    pub key_name: String,
    pub algorithm: String,
    /// BADTIME responses are signed with the key; BADKEY and BADSIG are not.
    signer: Option<Signer>,
}

impl Failure {
    /// Appends the error TSIG record to a finished response.
    pub fn finish(self, mut response: Vec<u8>) -> Vec<u8> {
        match self.signer {
            Some(mut signer) => {
                signer.error = self.error;
                signer.sign(response)
            }
            None => {
                let id = u16::from_be_bytes([response[0], response[1]]);
                let record = encode_record(
                    &self.key_name,
                    &self.algorithm,
                    now(),
                    &[],
                    id,
                    self.error,
                    &[],
                );
                append_record(&mut response, &record);
                response
            }
        }
    }
}

/// Checks the TSIG of a request against the configured keys.
pub fn verify(keys: &Keys, message: &[u8], record: TsigRecord) -> Verdict {
    let failure = |error, signer| {
        Verdict::Failed(Failure {
            error,
            key_name: record.key_name.clone(),
            algorithm: record.algorithm.clone(),
            signer,
        })
    };
    let Some(key) = keys.find(&record.key_name) else {
        return failure(BADKEY, None);
    };
    if record.algorithm != ALGORITHM {
        return failure(BADKEY, None);
    }
    if record.mac.len() != MAC_LEN {
        return failure(BADSIG, None);
    }
    let mut mac = key.mac();
    mac.update(&unsigned_message(message, &record));
    mac.update(&record.variables());
    if mac.verify_slice(&record.mac).is_err() {
        return failure(BADSIG, None);
    }
    let signer = Signer {
        key: Arc::clone(key),
        prior_mac: record.mac.clone(),
        first: true,
        error: 0,
        request_time: record.time,
    };
    if now().abs_diff(record.time) > u64::from(record.fudge) {
        return failure(BADTIME, Some(signer));
    }
    Verdict::Signed(signer)
}

/// `message` as it was before the TSIG record was added: without the record, with one
/// additional record fewer and with the original id.
fn unsigned_message(message: &[u8], record: &TsigRecord) -> Vec<u8> {
    let mut unsigned = message[..record.start].to_vec();
    unsigned[0..2].copy_from_slice(&record.original_id.to_be_bytes());
    let additionals = u16::from_be_bytes([unsigned[10], unsigned[11]]).saturating_sub(1);
    unsigned[10..12].copy_from_slice(&additionals.to_be_bytes());
    unsigned
}

/// The TSIG variables of RFC 8945 section 4.3.3, names in canonical (lower-case) form.
fn variables(
    key: &str,
    algorithm: &str,
    time: u64,
    fudge: u16,
    error: u16,
    other: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    push_name(&mut out, key);
    out.extend_from_slice(&CLASS_ANY.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    push_name(&mut out, algorithm);
    out.extend_from_slice(&time.to_be_bytes()[2..]);
    out.extend_from_slice(&fudge.to_be_bytes());
    out.extend_from_slice(&error.to_be_bytes());
    out.extend_from_slice(&(other.len() as u16).to_be_bytes());
    out.extend_from_slice(other);
    out
}

fn push_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

fn encode_record(
    key: &str,
    algorithm: &str,
    time: u64,
    mac: &[u8],
    original_id: u16,
    error: u16,
    other: &[u8],
) -> Vec<u8> {
    let mut rdata = Vec::with_capacity(64 + mac.len());
    push_name(&mut rdata, algorithm);
    rdata.extend_from_slice(&time.to_be_bytes()[2..]);
    rdata.extend_from_slice(&FUDGE.to_be_bytes());
    rdata.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    rdata.extend_from_slice(mac);
    rdata.extend_from_slice(&original_id.to_be_bytes());
    rdata.extend_from_slice(&error.to_be_bytes());
    rdata.extend_from_slice(&(other.len() as u16).to_be_bytes());
    rdata.extend_from_slice(other);
    let mut record = Vec::with_capacity(rdata.len() + key.len() + 12);
    push_name(&mut record, key);
    record.extend_from_slice(&TYPE_TSIG.to_be_bytes());
    record.extend_from_slice(&CLASS_ANY.to_be_bytes());
    record.extend_from_slice(&0u32.to_be_bytes());
    record.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    record.extend_from_slice(&rdata);
    record
}

fn append_record(message: &mut Vec<u8>, record: &[u8]) {
    let additionals = u16::from_be_bytes([message[10], message[11]]) + 1;
    message[10..12].copy_from_slice(&additionals.to_be_bytes());
    message.extend_from_slice(record);
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Signs the responses to one verified request, in order: the first with the request's MAC,
/// each later one with the MAC of the one before (RFC 8945 section 5.3.1).
pub struct Signer {
    key: Arc<Key>,
    prior_mac: Vec<u8>,
    first: bool,
    error: u16,
    request_time: u64,
}

impl Signer {
    /// Signs a finished message and returns it with its TSIG record.
    pub fn sign(&mut self, mut message: Vec<u8>) -> Vec<u8> {
        let time = now();
        // A BADTIME answer carries the server's time in "other data".
        let other = if self.error == BADTIME {
            time.to_be_bytes()[2..].to_vec()
        } else {
            Vec::new()
        };
        let time_signed = if self.error == BADTIME {
            self.request_time
        } else {
            time
        };
        let mut mac = self.key.mac();
        mac.update(&(self.prior_mac.len() as u16).to_be_bytes());
        mac.update(&self.prior_mac);
        mac.update(&message);
        if self.first {
            mac.update(&variables(
                &self.key.name,
                ALGORITHM,
                time_signed,
                FUDGE,
                self.error,
                &other,
            ));
        } else {
            mac.update(&time_signed.to_be_bytes()[2..]);
            mac.update(&FUDGE.to_be_bytes());
        }
        let digest = mac.finalize().into_bytes().to_vec();
        let id = u16::from_be_bytes([message[0], message[1]]);
        let record = encode_record(
            &self.key.name,
            ALGORITHM,
            time_signed,
            &digest,
            id,
            self.error,
            &other,
        );
        append_record(&mut message, &record);
        self.prior_mac = digest;
        self.first = false;
        message
    }
}

/// Signs a request, for tests and for clients of this module: returns the message with its
/// TSIG record.
pub fn sign_request(key: &Key, mut message: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    let time = now();
    let mut mac = key.mac();
    mac.update(&message);
    mac.update(&variables(&key.name, ALGORITHM, time, FUDGE, 0, &[]));
    let digest = mac.finalize().into_bytes().to_vec();
    let id = u16::from_be_bytes([message[0], message[1]]);
    let record = encode_record(&key.name, ALGORITHM, time, &digest, id, 0, &[]);
    append_record(&mut message, &record);
    (message, digest)
}

/// Verifies a chain of signed responses to a request whose MAC was `request_mac`, for tests:
/// the client side of [`Signer`].
pub fn verify_responses(key: &Key, request_mac: &[u8], messages: &[Vec<u8>]) -> Result<(), String> {
    let mut prior = request_mac.to_vec();
    for (i, message) in messages.iter().enumerate() {
        let record = find(message)
            .map_err(|e| format!("message {i}: {e}"))?
            .ok_or_else(|| format!("message {i} is not signed"))?;
        let mut mac = key.mac();
        mac.update(&(prior.len() as u16).to_be_bytes());
        mac.update(&prior);
        mac.update(&unsigned_message(message, &record));
        if i == 0 {
            mac.update(&record.variables());
        } else {
            mac.update(&record.time.to_be_bytes()[2..]);
            mac.update(&record.fudge.to_be_bytes());
        }
        mac.verify_slice(&record.mac)
            .map_err(|_| format!("message {i} has a wrong MAC"))?;
        prior = record.mac;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::wire::{CLASS_IN, Flags, MessageWriter, TYPE_SOA, TYPE_TSIG};

    fn key() -> Key {
        Key::new(
            "Transfer-Key.",
            b"0123456789abcdef0123456789abcdef".to_vec(),
        )
    }

    fn query(id: u16) -> Vec<u8> {
        let mut w = MessageWriter::new(id, Flags::default(), 64);
        let labels = [b"rpz".as_slice(), b"siteban".as_slice()];
        w.question(labels.into_iter(), TYPE_SOA, CLASS_IN);
        w.finish()
    }

    fn keys() -> Keys {
        Keys(vec![Arc::new(key())])
    }

    /// What the server makes of a signed request, holding the keys of `keys()`.
    fn verdict(request: &[u8]) -> Verdict {
        let record = find(request).unwrap().unwrap();
        verify(&keys(), request, record)
    }

    #[test]
    fn a_signed_request_verifies_and_its_responses_chain() {
        let (request, request_mac) = sign_request(&key(), query(7));
        let record = find(&request).unwrap().unwrap();
        assert_eq!(record.key_name, "transfer-key");
        assert_eq!(record.original_id, 7);
        let Verdict::Signed(mut signer) = verify(&keys(), &request, record) else {
            panic!("a valid signature is accepted");
        };
        let responses: Vec<Vec<u8>> = (0..3).map(|i| signer.sign(query(7 + i))).collect();
        verify_responses(&key(), &request_mac, &responses).unwrap();
        // Reordered messages do not verify.
        let swapped = vec![responses[1].clone(), responses[0].clone()];
        assert!(verify_responses(&key(), &request_mac, &swapped).is_err());
        // hickory reads the signed message, and finds the TSIG record last.
        let message = hickory_proto::op::Message::from_vec(&responses[0]).unwrap();
        let last = message
            .signature
            .as_ref()
            .map(|r| u16::from(r.record_type()))
            .or_else(|| {
                message
                    .additionals
                    .last()
                    .map(|r| u16::from(r.record_type()))
            });
        assert_eq!(last, Some(TYPE_TSIG));
    }

    #[test]
    fn tampering_a_wrong_key_or_an_unknown_key_fail() {
        let (mut request, _) = sign_request(&key(), query(9));
        request[2] ^= 0x01;
        assert!(matches!(
            verdict(&request),
            Verdict::Failed(Failure { error: BADSIG, .. })
        ));
        let other = Key::new("transfer-key", b"another secret of thirty-two by.".to_vec());
        let (request, _) = sign_request(&other, query(9));
        assert!(matches!(
            verdict(&request),
            Verdict::Failed(Failure { error: BADSIG, .. })
        ));
        let unknown = Key::new("nobody", b"0123456789abcdef0123456789abcdef".to_vec());
        let (request, _) = sign_request(&unknown, query(9));
        let Verdict::Failed(failure) = verdict(&request) else {
            panic!("an unknown key fails");
        };
        assert_eq!(failure.error, BADKEY);
        // The error response carries an unsigned TSIG record naming the key.
        let response = failure.finish(query(9));
        let record = find(&response).unwrap().unwrap();
        assert_eq!((record.error, record.mac.len()), (BADKEY, 0));
    }

    #[test]
    fn unsigned_and_malformed_messages() {
        assert_eq!(find(&query(1)), Ok(None));
        let (mut request, _) = sign_request(&key(), query(1));
        request.push(0);
        assert!(find(&request).is_err(), "bytes after the TSIG record");
        assert!(find(&[0; 5]).is_err());
    }
}
