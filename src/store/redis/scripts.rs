//! The Lua scripts of entries (list, which also approves and imports; lift, which also
//! approves a pending lift; propose; reject; request and reject a lift), of API keys and of
//! the audit log, the part that indexes documents in every script that writes a record naming
//! one, and the outcome codes every script of the Redis store
//! answers. Each code is a Rust constant, and a script gets its codes as `local NAME = value`
//! lines generated from those constants in front of its body, so the Rust side that decodes
//! an answer and the script that gives it cannot disagree; its KEYS and ARGV get their local
//! names the same way, from the lists beside its body. Building the arguments and
//! decoding the answers is left to `entries.rs` and `redis.rs`; the scripts of notices, cases,
//! records and documents stay beside their Rust side, built the same way.
//!
//! Every script does all its checks before its first write: Redis runs a script alone and
//! refuses a writing script up front when out of memory, so a refused or failed script leaves
//! nothing half written.

use std::fmt::Write;

use redis::Script;

/// The script wrote everything it was asked to. The list and lift scripts answer it with the
/// new feed sequence, the propose script with 0.
pub(super) const WRITTEN: i64 = 1;
/// List, propose: the domain has an active entry; answered with its active record.
pub(super) const ALREADY_ACTIVE: i64 = 0;
/// Lift: the domain has no active entry.
pub(super) const NOT_LISTED: i64 = 0;
/// Lift: the active entry is no longer the one the caller read; the caller reads again.
pub(super) const ACTIVE_CHANGED: i64 = 2;
/// List, propose: the domain has an entry waiting for review; answered with its id.
pub(super) const ALREADY_PENDING: i64 = 3;
/// List approving an entry: the entry is not the pending one.
pub(super) const NOT_PENDING: i64 = 4;
/// List, lift: the referral case written alongside moved on since it was read.
pub(super) const CASE_CHANGED: i64 = 5;
/// Reject: the entry is no longer the pending one.
pub(super) const PENDING_CHANGED: i64 = 0;
/// Request a lift: a lift of the entry already waits for approval.
pub(super) const LIFT_PENDING: i64 = 6;
/// Lift approving a pending lift, reject a lift: the lift is no longer the pending one.
pub(super) const LIFT_NOT_PENDING: i64 = 7;
/// Audit: another node appended since the caller read the head; the caller chains again.
pub(super) const HEAD_MOVED: i64 = 0;
/// Key: there is no key with that id to revoke. Otherwise the script answers the new key
/// version, which is never 0.
pub(super) const NO_SUCH_KEY: i64 = 0;
/// The compare-and-set of a case or notice (`cases.rs`, `notices.rs`): the record's `ver` is
/// no longer the one the caller read.
pub(super) const VERSION_MOVED: i64 = 0;
/// Document (`documents.rs`): a document with the same hash is stored already; answered with
/// its metadata.
pub(super) const ALREADY_STORED: i64 = 0;

/// The body of a Lua script, the names it gives its KEYS and ARGV, and the outcome codes it
/// answers, by name.
pub(super) struct Lua {
    /// The local name of each of `KEYS[1]`, `KEYS[2]`, …, in order, separated by spaces.
    pub(super) keys: &'static str,
    /// The local name of each of `ARGV[1]`, `ARGV[2]`, …, in order, separated by spaces.
    pub(super) argv: &'static str,
    /// Each code's name (the Rust constant's, so that the two read alike) and value.
    pub(super) outcomes: &'static [(&'static str, i64)],
    /// The script, which names its codes and never spells their numbers.
    pub(super) body: &'static str,
}

/// The `outcomes` of a [`Lua`]: each constant with its own name, so a name cannot drift
/// from its value.
macro_rules! outcomes {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), $name)),*]
    };
}
pub(super) use outcomes;

impl Lua {
    /// The script as Redis runs it: a `local NAME = value` line per outcome, a
    /// `local name = KEYS[i]` or `ARGV[i]` line per key and argument, then the body.
    pub(super) fn text(&self) -> String {
        let mut text = String::from("-- Outcome codes, from the Rust constants of these names.\n");
        for (name, value) in self.outcomes {
            writeln!(text, "local {name} = {value}").expect("writing to a string");
        }
        text.push_str("-- Keys and arguments, by name.\n");
        for (array, names) in [("KEYS", self.keys), ("ARGV", self.argv)] {
            for (i, name) in names.split_whitespace().enumerate() {
                writeln!(text, "local {name} = {array}[{}]", i + 1).expect("writing to a string");
            }
        }
        text.push_str(self.body);
        text
    }

    pub(super) fn script(&self) -> Script {
        Script::new(&self.text())
    }
}

/// The check that opens every script writing a referral case alongside a registry change:
/// the case must still be at the version read (`case_ver`, '' when no case is written).
macro_rules! case_unchanged {
    () => {
        r#"
if case_ver ~= '' and (redis.call('HGET', case, 'ver') or '0') ~= case_ver then
  return {CASE_CHANGED, 0}
end"#
    };
}

/// Adds the rows of the document index (`Keys::document_refs`) that the space-separated
/// `refs` lists: every script that writes an entry, a case or a referral indexes the document
/// hashes it names in the same step.
macro_rules! add_refs {
    () => {
        r#"
for row in string.gmatch(refs, '%S+') do
  redis.call('ZADD', doc_refs, 0, row)
end"#
    };
}
pub(super) use add_refs;

/// What closes every script that changes the registry: the document index rows, the feed event
/// of sequence `seq` (stream id `<seq>-0`, so stream order is sequence order) and the case
/// document at its next version, when one is written. `retention` is two numbers: how many
/// events the feed keeps and the transparency log's size as the caller knows it; the feed
/// drops an event only when it is beyond both.
macro_rules! event_and_case {
    () => {
        concat!(
            add_refs!(),
            r#"
local keep, logged = string.match(retention, '^(%d+) (%d+)$')
local oldest = math.max(0, math.min(tonumber(seq) - tonumber(keep), tonumber(logged))) + 1
redis.call('XADD', feed, 'MINID', '~', string.format('%d', oldest), seq .. '-0',
  't', kind, 'd', domain, 's', scope, 'i', id, 'c', category, 'a', at)
if case_ver ~= '' then
  redis.call('HSET', case, 'doc', case_doc, 'ver', tonumber(case_ver) + 1)
end
return {WRITTEN, seq}
"#
        )
    };
}

/// Lists an entry: checks that a referral case written alongside is still at the version
/// read, that the domain has no active entry (or only the suspension `replaces` that this
/// listing replaces: its record's category byte has the high bit, `store::SUSPENDED_BIT`)
/// and, for a direct listing, no pending one (for an approval, that the approved entry is the
/// pending one, which it takes out of the pending set); then takes the next sequence number
/// and writes the entry, its history link, the listing indexes, the feed event, the replaced
/// suspension's end and the case. The feed stream's entry id is `<seq>-0`, so stream order is
/// sequence order. Approvals and imports run this script too.
///
/// KEYS: 1 the sequence counter, 2 the feed, 3 the active hash, 4 the entry, 5 the domain's
/// history, 6 to 7 the `all` and `active` listing indexes, 8 the pending hash, 9 the case
/// (any key when there is none), 10 the replaced suspension's entry (any key when none),
/// 11 the `lifted` listing index, 12 the document index.
///
/// ARGV: 1 domain, 2 active record, 3 entry document, 4 the id of the pending entry approved
/// ('' for a direct listing), 5 the replaced suspension's 16-byte id ('' when none), 6 its
/// lift document, 7 its id, then the event and case arguments of every registry write:
/// 8 entry id, 9 scope, 10 category, 11 listing time, 12 feed retention, 13 event type, 14 the
/// case version read ('' when no case is written), 15 the case document, 16 the document
/// index rows of the entry, the replaced suspension and the case, separated by spaces.
///
/// Answers `{WRITTEN, seq}`, `{ALREADY_ACTIVE, record}`, `{ALREADY_PENDING, id}`,
/// `{NOT_PENDING, 0}` or `{CASE_CHANGED, 0}`. `notices.rs` splices its writes in right before
/// the `{WRITTEN, seq}` answer, after every check.
pub(super) const LIST: Lua = Lua {
    keys: "seq_counter feed active entry history by_seq_all by_seq_active pending_ids case replaced_entry by_seq_lifted doc_refs",
    argv: "domain record doc approving replaces replaced_end replaced_id id scope category at retention kind case_ver case_doc refs",
    outcomes: outcomes![
        WRITTEN,
        ALREADY_ACTIVE,
        ALREADY_PENDING,
        NOT_PENDING,
        CASE_CHANGED
    ],
    body: concat!(
        case_unchanged!(),
        r#"
local current = redis.call('HGET', active, domain)
if current and (replaces == '' or string.sub(current, 1, 16) ~= replaces
    or string.byte(current, 18) < 128) then
  return {ALREADY_ACTIVE, current}
end
local pending = redis.call('HGET', pending_ids, domain)
if approving == '' then
  if pending then return {ALREADY_PENDING, pending} end
else
  if pending ~= approving then return {NOT_PENDING, 0} end
  redis.call('HDEL', pending_ids, domain)
end
local seq = redis.call('INCR', seq_counter)
redis.call('HSET', entry, 'doc', doc, 'seq', seq)
if approving == '' then redis.call('RPUSH', history, id) end
if current then
  local listed = redis.call('HGET', replaced_entry, 'seq')
  redis.call('HSET', replaced_entry, 'lift', replaced_end, 'lift_seq', seq)
  redis.call('ZREM', by_seq_active, replaced_id)
  redis.call('ZADD', by_seq_lifted, listed, replaced_id)
end
redis.call('HSET', active, domain, record)
redis.call('ZADD', by_seq_all, seq, id)
redis.call('ZADD', by_seq_active, seq, id)
"#,
        event_and_case!()
    ),
};

/// Lifts the active entry of a domain (or ends a suspension) when it is still the one the
/// caller read (else the caller reads again), a lift it approves is still the entry's pending
/// lift and a referral case written alongside is still at the version read: moves the entry
/// from the active to the lifted index, ends its pending lift (approved, or overtaken by a
/// lift that needed no approval), appends the event and writes the case. Only `notices.rs`
/// runs it, extended with the notices the lift restores.
///
/// KEYS: 1 the sequence counter, 2 the feed, 3 the active hash, 4 the entry, 5 to 6 the
/// `active` and `lifted` listing indexes, 7 the pending lifts hash, 8 the case (any key when
/// there is none), 9 the document index.
///
/// ARGV: 1 domain, 2 the active record read, 3 lift document, 4 the pending lift approved,
/// as read ('' for a lift that needs no approval), 5 the entry's `located` field as read
/// ('' for none), 6 entry id, 7 scope, 8 category, 9 lift time, 10 feed retention, 11 event
/// type, 12 the case version read ('' when no case is written), 13 the case document, 14 the
/// document index rows of the lifted entry and the case.
///
/// Answers `{WRITTEN, seq}`, `{NOT_LISTED, 0}`, `{ACTIVE_CHANGED, 0}` (also when locating
/// wrote since the read: the restore notices would miss a provider it told),
/// `{LIFT_NOT_PENDING, 0}` or `{CASE_CHANGED, 0}`.
pub(super) const LIFT: Lua = Lua {
    keys: "seq_counter feed active entry by_seq_active by_seq_lifted pending_lifts case doc_refs",
    argv: "domain record lift approving located id scope category at retention kind case_ver case_doc refs",
    outcomes: outcomes![
        WRITTEN,
        NOT_LISTED,
        ACTIVE_CHANGED,
        LIFT_NOT_PENDING,
        CASE_CHANGED
    ],
    body: concat!(
        case_unchanged!(),
        r#"
local current = redis.call('HGET', active, domain)
if not current then return {NOT_LISTED, 0} end
if current ~= record then return {ACTIVE_CHANGED, 0} end
if (redis.call('HGET', entry, 'located') or '') ~= located then return {ACTIVE_CHANGED, 0} end
if approving ~= '' and redis.call('HGET', entry, 'pending_lift') ~= approving then
  return {LIFT_NOT_PENDING, 0}
end
local listed = redis.call('HGET', entry, 'seq')
local seq = redis.call('INCR', seq_counter)
redis.call('HSET', entry, 'lift', lift, 'lift_seq', seq)
redis.call('HDEL', entry, 'pending_lift')
redis.call('HDEL', pending_lifts, domain)
redis.call('HDEL', active, domain)
redis.call('ZREM', by_seq_active, id)
redis.call('ZADD', by_seq_lifted, listed, id)
"#,
        event_and_case!()
    ),
};

/// Stores an entry as pending review, unless the domain has an active or pending entry.
///
/// KEYS: 1 the active hash, 2 the pending hash, 3 the entry, 4 the domain's history, 5 the
/// document index.
///
/// ARGV: 1 domain, 2 entry id, 3 entry document, 4 the document index rows of the entry.
///
/// Answers `{WRITTEN, 0}`, `{ALREADY_ACTIVE, record}` or `{ALREADY_PENDING, id}`, as the
/// list script does.
pub(super) const PROPOSE: Lua = Lua {
    keys: "active pending_ids entry history doc_refs",
    argv: "domain id doc refs",
    outcomes: outcomes![WRITTEN, ALREADY_ACTIVE, ALREADY_PENDING],
    body: concat!(
        r#"
local current = redis.call('HGET', active, domain)
if current then return {ALREADY_ACTIVE, current} end
local pending = redis.call('HGET', pending_ids, domain)
if pending then return {ALREADY_PENDING, pending} end
redis.call('HSET', entry, 'doc', doc, 'seq', 0)
redis.call('RPUSH', history, id)
redis.call('HSET', pending_ids, domain, id)"#,
        add_refs!(),
        r#"
return {WRITTEN, 0}
"#
    ),
};

/// Rejects the pending entry the caller read, if it is still the pending one.
///
/// KEYS: 1 the pending hash, 2 the entry.
///
/// ARGV: 1 domain, 2 entry id, 3 the rejected entry's document.
///
/// Answers `WRITTEN` or `PENDING_CHANGED`.
pub(super) const REJECT: Lua = Lua {
    keys: "pending_ids entry",
    argv: "domain id doc",
    outcomes: outcomes![WRITTEN, PENDING_CHANGED],
    body: r#"
if redis.call('HGET', pending_ids, domain) ~= id then return PENDING_CHANGED end
redis.call('HDEL', pending_ids, domain)
redis.call('HSET', entry, 'doc', doc)
return WRITTEN
"#,
};

/// Records a lift waiting for approval on the active entry the caller read, unless another
/// entry is active now or a lift of this one already waits. Nothing else changes: no
/// sequence number, no feed event, no notice.
///
/// KEYS: 1 the active hash, 2 the entry, 3 the pending lifts hash.
///
/// ARGV: 1 domain, 2 the active record read, 3 entry id, 4 the pending lift document.
///
/// Answers `WRITTEN`, `NOT_LISTED`, `ACTIVE_CHANGED` or `LIFT_PENDING`.
pub(super) const REQUEST_LIFT: Lua = Lua {
    keys: "active entry pending_lifts",
    argv: "domain record id request",
    outcomes: outcomes![WRITTEN, NOT_LISTED, ACTIVE_CHANGED, LIFT_PENDING],
    body: r#"
local current = redis.call('HGET', active, domain)
if not current then return NOT_LISTED end
if current ~= record then return ACTIVE_CHANGED end
if redis.call('HEXISTS', entry, 'pending_lift') == 1 then return LIFT_PENDING end
redis.call('HSET', entry, 'pending_lift', request)
redis.call('HSET', pending_lifts, domain, id)
return WRITTEN
"#,
};

/// Rejects the pending lift the caller read, if it is still the entry's pending lift: clears
/// it and appends the rejection to the entry's `rejected_lifts` (one JSON document a line).
///
/// KEYS: 1 the entry, 2 the pending lifts hash.
///
/// ARGV: 1 domain, 2 the pending lift read, 3 the rejection document.
///
/// Answers `WRITTEN` or `LIFT_NOT_PENDING`.
pub(super) const REJECT_LIFT: Lua = Lua {
    keys: "entry pending_lifts",
    argv: "domain expected rejection",
    outcomes: outcomes![WRITTEN, LIFT_NOT_PENDING],
    body: r#"
if redis.call('HGET', entry, 'pending_lift') ~= expected then return LIFT_NOT_PENDING end
local rejected = redis.call('HGET', entry, 'rejected_lifts')
if rejected then rejected = rejected .. '\n' .. rejection else rejected = rejection end
redis.call('HDEL', entry, 'pending_lift')
redis.call('HDEL', pending_lifts, domain)
redis.call('HSET', entry, 'rejected_lifts', rejected)
return WRITTEN
"#,
};

/// Appends an audit record chained by the caller to the head it read; refuses when the head
/// moved meanwhile, and the caller chains again. Lua has no SHA-256, hence the compare-and-set
/// rather than hashing here.
///
/// KEYS: 1 the audit list, 2 the audit head.
///
/// ARGV: 1 the head read ('' when the log is empty), 2 the new head (`<seq> <sha256>`),
/// 3 the record.
///
/// Answers `WRITTEN` or `HEAD_MOVED`.
pub(super) const AUDIT: Lua = Lua {
    keys: "log head",
    argv: "expected_head new_head record",
    outcomes: outcomes![WRITTEN, HEAD_MOVED],
    body: r#"
local current = redis.call('GET', head) or ''
if current ~= expected_head then return HEAD_MOVED end
redis.call('RPUSH', log, record)
redis.call('SET', head, new_head)
return WRITTEN
"#,
};

/// Adds or removes an API key and records the change in the key log that followers block on.
///
/// KEYS: 1 the key hash, 2 the key version counter, 3 the key log.
///
/// ARGV: 1 `create` or `revoke`, 2 key id, 3 key record ('' to revoke).
///
/// Answers the new key version, or `NO_SUCH_KEY` when there was no key to revoke.
pub(super) const KEY: Lua = Lua {
    keys: "keys version_counter log",
    argv: "op id doc",
    outcomes: outcomes![NO_SUCH_KEY],
    body: r#"
if op == 'create' then
  redis.call('HSET', keys, id, doc)
elseif redis.call('HDEL', keys, id) == 0 then
  return NO_SUCH_KEY
end
local version = redis.call('INCR', version_counter)
redis.call('XADD', log, 'MAXLEN', '~', 1000, version .. '-0', 'op', op, 'id', id)
return version
"#,
};

/// The scripts above, as the store runs them. The list and lift scripts have no entry here:
/// only their extensions with notices (and, for listing, the locate job) run (`notices.rs`).
pub(super) struct Scripts {
    pub(super) propose: Script,
    pub(super) reject: Script,
    pub(super) request_lift: Script,
    pub(super) reject_lift: Script,
    pub(super) audit: Script,
    pub(super) key: Script,
}

impl Scripts {
    pub(super) fn new() -> Scripts {
        Scripts {
            propose: PROPOSE.script(),
            reject: REJECT.script(),
            request_lift: REQUEST_LIFT.script(),
            reject_lift: REJECT_LIFT.script(),
            audit: AUDIT.script(),
            key: KEY.script(),
        }
    }
}

/// Checks that `lua` declares each of its outcomes as `local NAME = value` with the value of
/// the Rust constant, answers each of them, and neither spells an outcome's number nor names
/// an outcome it does not declare.
#[cfg(test)]
fn assert_outcomes_named(lua: &Lua) {
    // The body without its quoted strings and comments: Redis command names are upper case
    // too, but they are quoted.
    let mut code = String::new();
    for line in lua.body.lines() {
        let line = line.split("--").next().unwrap_or_default();
        for (i, part) in line.split('\'').enumerate() {
            if i % 2 == 0 {
                code.push_str(part);
            }
            code.push(' ');
        }
        code.push('\n');
    }
    let text = lua.text();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    for (name, value) in lua.outcomes {
        let declaration = format!("local {name} = {value}");
        assert_eq!(
            lines.iter().filter(|l| **l == declaration).count(),
            1,
            "the script declares `{declaration}` once:\n{text}"
        );
        assert!(
            words.contains(name),
            "the script never answers {name}:\n{text}"
        );
    }
    for word in &words {
        let is_constant_name = word.starts_with(|c: char| c.is_ascii_uppercase())
            && word
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if is_constant_name && !matches!(*word, "KEYS" | "ARGV") {
            assert!(
                lua.outcomes.iter().any(|(name, _)| name == word),
                "the script names {word}, which is not one of its outcomes:\n{text}"
            );
        }
    }
    for line in code.lines().map(str::trim) {
        if let Some(declared) = line.strip_prefix("local ") {
            assert!(
                !declared.starts_with(|c: char| c.is_ascii_uppercase()),
                "outcome codes come from the Rust constants, not from the body: {line}"
            );
        }
        let mut rest = line;
        while let Some(at) = rest.find("return") {
            rest = &rest[at + "return".len()..];
            let answer = rest.trim_start().trim_start_matches('{').trim_start();
            assert!(
                !answer.starts_with(|c: char| c.is_ascii_digit() || c == '-'),
                "the script answers a number rather than a named outcome: {line}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every Lua script of the Redis store, these and those beside their Rust side.
    const ALL: [&Lua; 13] = [
        &LIST,
        &LIFT,
        &PROPOSE,
        &REJECT,
        &REQUEST_LIFT,
        &REJECT_LIFT,
        &AUDIT,
        &KEY,
        &super::super::cases::PUT,
        &super::super::notices::UPDATE,
        &super::super::records::COMMIT_SCRIPT,
        &super::super::records::UNLOCK_SCRIPT,
        &super::super::documents::PUT,
    ];

    #[test]
    fn every_outcome_is_named_in_its_script_with_the_rust_value() {
        for lua in ALL {
            assert_outcomes_named(lua);
        }
    }

    #[test]
    fn keys_and_arguments_have_distinct_lua_names() {
        for lua in ALL {
            let mut names: Vec<&str> = lua.keys.split_whitespace().collect();
            names.extend(lua.argv.split_whitespace());
            for name in &names {
                assert!(
                    name.starts_with(|c: char| c.is_ascii_lowercase())
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{name} is not a lower-case Lua name:\n{}",
                    lua.text()
                );
            }
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), count, "a name repeats:\n{}", lua.text());
        }
    }

    #[test]
    fn the_outcomes_of_one_script_differ() {
        // Codes one script answers must differ, or the caller could not tell them apart.
        for lua in ALL {
            let mut values: Vec<i64> = lua.outcomes.iter().map(|(_, v)| *v).collect();
            values.sort_unstable();
            values.dedup();
            assert_eq!(values.len(), lua.outcomes.len(), "{}", lua.text());
        }
    }
}
