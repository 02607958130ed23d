//! A parsed DNS request and the kind of transfer it asks for: what `server` builds from a
//! message and `transfer` streams an answer to. Parsing and answering stay in `server`,
//! streaming in `transfer`; both depend on this module, and it on neither.

use std::net::SocketAddr;

use hickory_proto::op::Message;

use super::wire::{Flags, MessageWriter, OPCODE_QUERY};

/// A parsed request and what the answer needs of it.
pub struct Request {
    pub message: Message,
    pub id: u16,
    pub qtype: u16,
    pub qclass: u16,
    /// The question name in lower case without the final dot.
    pub qname: String,
    pub edns: bool,
    pub peer: SocketAddr,
    pub tcp: bool,
}

impl Request {
    pub fn labels(&self) -> impl Iterator<Item = &[u8]> {
        self.message.queries[0].name.iter()
    }

    /// A response header and the question echoed.
    pub fn writer(&self, rcode: u8, authoritative: bool, capacity: usize) -> MessageWriter {
        let mut w = MessageWriter::new(
            self.id,
            Flags {
                response: true,
                opcode: OPCODE_QUERY,
                authoritative,
                truncated: false,
                recursion_desired: self.message.metadata.recursion_desired,
                rcode,
            },
            capacity,
        );
        w.question(self.labels(), self.qtype, self.qclass);
        w
    }
}

/// Which transfer a TCP request asked for.
pub enum TransferKind {
    Axfr,
    Ixfr(u32),
}
