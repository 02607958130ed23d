//! The DNS wire format of what the listener sends: a message writer with name compression
//! against the question, and the codes it needs. Parsing of what arrives is left to
//! `hickory-proto` (see `server`); writing is done here so that a zone transfer can stream
//! hundreds of thousands of records without building a `Message` per record, and so that TSIG
//! can sign exactly the bytes that go out.

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_OPT: u16 = 41;
pub const TYPE_TSIG: u16 = 250;
pub const TYPE_IXFR: u16 = 251;
pub const TYPE_AXFR: u16 = 252;
pub const TYPE_ANY: u16 = 255;

pub const CLASS_IN: u16 = 1;
pub const CLASS_ANY: u16 = 255;

pub const OPCODE_QUERY: u8 = 0;
pub const OPCODE_NOTIFY: u8 = 4;

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;
pub const RCODE_REFUSED: u8 = 5;
pub const RCODE_NOTAUTH: u8 = 9;
/// An extended code (RFC 6891): the header holds its low four bits, the OPT record the rest,
/// so it is only sent with EDNS.
pub const RCODE_BADVERS: u8 = 16;

/// The EDNS version this server speaks.
pub const EDNS_VERSION: u8 = 0;

/// The EDNS payload size this server advertises (the DNS flag day 2020 value).
pub const EDNS_PAYLOAD: u16 = 1232;

/// Offset of the question name in every message: right after the 12-byte header.
const QUESTION_OFFSET: u16 = 12;

/// Header flags of a message: the second 16-bit word of the header.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    pub response: bool,
    pub opcode: u8,
    pub authoritative: bool,
    pub truncated: bool,
    pub recursion_desired: bool,
    /// The response code; the header holds its low four bits, [`MessageWriter::edns`] the
    /// rest.
    pub rcode: u8,
}

impl Flags {
    fn to_u16(self) -> u16 {
        (u16::from(self.response) << 15)
            | (u16::from(self.opcode & 0x0f) << 11)
            | (u16::from(self.authoritative) << 10)
            | (u16::from(self.truncated) << 9)
            | (u16::from(self.recursion_desired) << 8)
            | u16::from(self.rcode & 0x0f)
    }
}

/// Record data the listener writes.
pub enum RData<'a> {
    A([u8; 4]),
    /// NS or CNAME target, absolute, lower case, without the trailing dot (`""` is the root).
    Name(&'a str),
    Soa {
        mname: &'a str,
        rname: &'a str,
        serial: u32,
        refresh: u32,
        retry: u32,
        expire: u32,
        minimum: u32,
    },
    /// Character strings, each at most 255 bytes (longer ones are cut).
    Txt(&'a [Vec<u8>]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Question,
    Answer,
    Authority,
    Additional,
}

/// Writes one message front to back: header, question, then records section by section.
pub struct MessageWriter {
    buf: Vec<u8>,
    counts: [u16; 4],
    section: Section,
    /// Wire offsets of the question name's labels, for compression.
    question: Vec<u16>,
    /// The upper eight bits of an extended response code, written in the OPT record.
    rcode_high: u8,
}

impl MessageWriter {
    pub fn new(id: u16, flags: Flags, capacity: usize) -> MessageWriter {
        let mut buf = Vec::with_capacity(capacity.max(512));
        buf.extend_from_slice(&id.to_be_bytes());
        buf.extend_from_slice(&flags.to_u16().to_be_bytes());
        buf.extend_from_slice(&[0; 8]);
        MessageWriter {
            buf,
            counts: [0; 4],
            section: Section::Question,
            question: Vec::new(),
            rcode_high: flags.rcode >> 4,
        }
    }

    /// Writes the question, keeping the labels as the client spelled them (resolvers check
    /// that the echo matches, case included).
    pub fn question<'l>(&mut self, labels: impl Iterator<Item = &'l [u8]>, qtype: u16, class: u16) {
        debug_assert!(self.counts == [0; 4]);
        for label in labels {
            self.question.push(self.buf.len() as u16);
            self.buf.push(label.len() as u8);
            self.buf.extend_from_slice(label);
        }
        self.buf.push(0);
        self.buf.extend_from_slice(&qtype.to_be_bytes());
        self.buf.extend_from_slice(&class.to_be_bytes());
        self.counts[0] = 1;
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.len() <= 12
    }

    fn enter(&mut self, section: Section) {
        assert!(self.section <= section, "sections are written in order");
        self.section = section;
    }

    /// Writes `name` (lower case, no trailing dot), compressed against the question.
    fn name(&mut self, name: &str) {
        if name.is_empty() {
            self.buf.push(0);
            return;
        }
        let labels: Vec<&str> = name.split('.').collect();
        for start in 0..labels.len() {
            if let Some(offset) = self.question_suffix(&labels[start..]) {
                self.labels(&labels[..start]);
                self.pointer(offset);
                return;
            }
        }
        self.labels(&labels);
        self.buf.push(0);
    }

    /// Writes `prefix` followed by a pointer to the question name, for a record whose owner is
    /// `prefix.<question name>`: the zone transfer's and the DNSBL's common case.
    pub fn name_under_question(&mut self, prefix: &str) {
        if !prefix.is_empty() {
            for label in prefix.split('.') {
                self.buf.push(label.len() as u8);
                self.buf.extend_from_slice(label.as_bytes());
            }
        }
        self.pointer(QUESTION_OFFSET);
    }

    fn labels(&mut self, labels: &[&str]) {
        for label in labels {
            self.buf.push(label.len() as u8);
            self.buf.extend_from_slice(label.as_bytes());
        }
    }

    fn pointer(&mut self, offset: u16) {
        self.buf.extend_from_slice(&(0xC000 | offset).to_be_bytes());
    }

    fn question_suffix(&self, labels: &[&str]) -> Option<u16> {
        let q = &self.question;
        if labels.is_empty() || labels.len() > q.len() {
            return None;
        }
        let tail = &q[q.len() - labels.len()..];
        tail.iter()
            .zip(labels)
            .all(|(offset, name)| {
                let at = usize::from(*offset);
                let len = usize::from(self.buf[at]);
                self.buf[at + 1..at + 1 + len].eq_ignore_ascii_case(name.as_bytes())
            })
            .then(|| tail[0])
    }

    /// Appends one record to `section`; the owner is written by `owner`.
    fn record(&mut self, section: Section, owner: Owner<'_>, rtype: u16, ttl: u32, data: &RData) {
        self.enter(section);
        match owner {
            Owner::Name(name) => self.name(name),
            Owner::UnderQuestion(prefix) => self.name_under_question(prefix),
        }
        self.buf.extend_from_slice(&rtype.to_be_bytes());
        self.buf.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.buf.extend_from_slice(&ttl.to_be_bytes());
        let length_at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        match data {
            RData::A(address) => self.buf.extend_from_slice(address),
            // RDATA names are written whole: compression inside RDATA is allowed only for the
            // types of RFC 1035, and a whole name is never wrong.
            RData::Name(name) => self.uncompressed(name),
            RData::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => {
                self.uncompressed(mname);
                self.uncompressed(rname);
                for value in [serial, refresh, retry, expire, minimum] {
                    self.buf.extend_from_slice(&value.to_be_bytes());
                }
            }
            RData::Txt(strings) => {
                for string in strings.iter() {
                    let string = &string[..string.len().min(255)];
                    self.buf.push(string.len() as u8);
                    self.buf.extend_from_slice(string);
                }
            }
        }
        let length = (self.buf.len() - length_at - 2) as u16;
        self.buf[length_at..length_at + 2].copy_from_slice(&length.to_be_bytes());
        self.counts[section as usize] += 1;
    }

    fn uncompressed(&mut self, name: &str) {
        if !name.is_empty() {
            for label in name.split('.') {
                self.buf.push(label.len() as u8);
                self.buf.extend_from_slice(label.as_bytes());
            }
        }
        self.buf.push(0);
    }

    pub fn answer(&mut self, owner: Owner<'_>, rtype: u16, ttl: u32, data: &RData) {
        self.record(Section::Answer, owner, rtype, ttl, data);
    }

    pub fn authority(&mut self, owner: Owner<'_>, rtype: u16, ttl: u32, data: &RData) {
        self.record(Section::Authority, owner, rtype, ttl, data);
    }

    /// Adds an EDNS OPT record of [`EDNS_VERSION`] advertising [`EDNS_PAYLOAD`], with the
    /// upper bits of the response code.
    pub fn edns(&mut self) {
        self.enter(Section::Additional);
        self.buf.push(0);
        self.buf.extend_from_slice(&TYPE_OPT.to_be_bytes());
        self.buf.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
        // The TTL field: extended response code, version, flags (none); then no options.
        self.buf
            .extend_from_slice(&[self.rcode_high, EDNS_VERSION, 0, 0, 0, 0]);
        self.counts[Section::Additional as usize] += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        for (i, count) in self.counts.iter().enumerate() {
            self.buf[4 + 2 * i..6 + 2 * i].copy_from_slice(&count.to_be_bytes());
        }
        self.buf
    }
}

/// How a record's owner name is written.
#[derive(Clone, Copy)]
pub enum Owner<'a> {
    /// A whole name (lower case, no trailing dot), compressed where it ends like the question.
    Name(&'a str),
    /// `prefix.<question name>`; an empty prefix is the question name itself.
    UnderQuestion(&'a str),
}

/// Bytes `name` takes on the wire, uncompressed.
pub fn name_len(name: &str) -> usize {
    if name.is_empty() { 1 } else { name.len() + 2 }
}

/// Skips a possibly compressed name starting at `pos`; returns the position after it.
pub fn skip_name(buf: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *buf.get(pos)?;
        match len & 0xC0 {
            0x00 if len == 0 => return Some(pos + 1),
            0x00 => pos += 1 + len as usize,
            0xC0 => return (pos + 2 <= buf.len()).then_some(pos + 2),
            _ => return None,
        }
    }
}

/// Reads an uncompressed name at `pos` as lower-case labels joined by dots; returns it and the
/// position after it. Compressed names are refused: TSIG names must not be compressed.
pub fn read_plain_name(buf: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    loop {
        let len = *buf.get(pos)? as usize;
        if len == 0 {
            return Some((name, pos + 1));
        }
        if len > 63 {
            return None;
        }
        let label = buf.get(pos + 1..pos + 1 + len)?;
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(std::str::from_utf8(label).ok()?);
        name.make_ascii_lowercase();
        pos += 1 + len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Message;
    use hickory_proto::rr::{Name, RData as HRData, RecordType};

    fn labels(name: &str) -> Vec<Vec<u8>> {
        name.split('.').map(|l| l.as_bytes().to_vec()).collect()
    }

    /// A writer of a response with `flags`, its question `name` of `qtype` written.
    fn answering(id: u16, flags: Flags, name: &str, qtype: u16) -> MessageWriter {
        let mut w = MessageWriter::new(
            id,
            Flags {
                response: true,
                ..flags
            },
            512,
        );
        let q = labels(name);
        w.question(q.iter().map(Vec::as_slice), qtype, CLASS_IN);
        w
    }

    #[test]
    fn hickory_reads_what_the_writer_writes() {
        let authoritative = Flags {
            authoritative: true,
            ..Flags::default()
        };
        let name = "Shop.Example.CN.dnsbl.siteban";
        let mut w = answering(0x1234, authoritative, name, TYPE_A);
        w.answer(
            Owner::UnderQuestion(""),
            TYPE_A,
            60,
            &RData::A([127, 0, 0, 2]),
        );
        w.answer(
            Owner::UnderQuestion(""),
            TYPE_TXT,
            60,
            &RData::Txt(&[
                b"entry_id=x".to_vec(),
                "decision=京〔2024〕1号".as_bytes().to_vec(),
            ]),
        );
        w.authority(
            Owner::Name("dnsbl.siteban"),
            TYPE_SOA,
            60,
            &RData::Soa {
                mname: "ns.example",
                rname: "hostmaster.example",
                serial: 7,
                refresh: 3600,
                retry: 600,
                expire: 86400,
                minimum: 60,
            },
        );
        w.edns();
        let bytes = w.finish();
        let message = Message::from_vec(&bytes).unwrap();
        assert_eq!(message.metadata.id, 0x1234);
        assert!(message.metadata.authoritative);
        assert_eq!(message.answers.len(), 2);
        assert_eq!(
            message.answers[0].name,
            Name::from_ascii("shop.example.cn.dnsbl.siteban.").unwrap()
        );
        assert_eq!(message.answers[0].record_type(), RecordType::A);
        assert_eq!(message.authorities[0].name.to_ascii(), "dnsbl.siteban.");
        match &message.authorities[0].data {
            HRData::SOA(soa) => assert_eq!(soa.serial, 7),
            other => panic!("{other:?}"),
        }
        assert!(message.edns.is_some());
    }

    #[test]
    fn an_extended_response_code_is_split_between_header_and_opt() {
        let flags = Flags {
            rcode: RCODE_BADVERS,
            ..Flags::default()
        };
        let mut w = answering(7, flags, "dnsbl.siteban", TYPE_SOA);
        w.edns();
        let bytes = w.finish();
        assert_eq!(bytes[3] & 0x0f, 0, "the low four bits of 16");
        let message = Message::from_vec(&bytes).unwrap();
        assert_eq!(u16::from(message.metadata.response_code), 16);
        let edns = message.edns.unwrap();
        assert_eq!((edns.rcode_high(), edns.version()), (1, EDNS_VERSION));
    }

    #[test]
    fn names_are_compressed_against_the_question_only_on_label_boundaries() {
        let mut w = MessageWriter::new(1, Flags::default(), 512);
        let q = labels("rpz.siteban");
        w.question(q.iter().map(Vec::as_slice), TYPE_AXFR, CLASS_IN);
        w.answer(Owner::Name("xrpz.siteban"), TYPE_CNAME, 1, &RData::Name(""));
        w.answer(
            Owner::Name("a.rpz.siteban"),
            TYPE_CNAME,
            1,
            &RData::Name(""),
        );
        w.answer(
            Owner::UnderQuestion("*.b.example"),
            TYPE_CNAME,
            1,
            &RData::Name(""),
        );
        let bytes = w.finish();
        let message = Message::from_vec(&bytes).unwrap();
        let names: Vec<String> = message.answers.iter().map(|r| r.name.to_ascii()).collect();
        assert_eq!(
            names,
            [
                "xrpz.siteban.",
                "a.rpz.siteban.",
                "*.b.example.rpz.siteban."
            ]
        );
    }

    #[test]
    fn names_are_skipped_and_read() {
        let bytes = [3, b'K', b'e', b'y', 0, 0xC0, 12, 1];
        assert_eq!(skip_name(&bytes, 0), Some(5));
        assert_eq!(skip_name(&bytes, 5), Some(7));
        assert_eq!(skip_name(&bytes[..6], 5), None);
        assert_eq!(read_plain_name(&bytes, 0), Some(("key".to_string(), 5)));
        assert_eq!(read_plain_name(&bytes, 5), None);
    }
}
