//! The compact, immutable base table of the index: every active name in one string arena and
//! a hash table of fixed-size slots pointing into it. Built once, read by many threads, never
//! changed; the overlay in `index` carries what changed since.

use hashbrown::HashTable;

/// What the index keeps per active entry, 19 bytes with no padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub entry_id: [u8; 16],
    pub scope: u8,
    pub category: u8,
    pub status: u8,
}

impl Record {
    /// Whether the entry covers the names below its own.
    pub fn is_subtree(&self) -> bool {
        self.scope == crate::domain::Scope::Subtree.to_u8()
    }

    /// Whether the entry is an emergency suspension: checked as listed, not in the RPZ.
    pub fn is_suspended(&self) -> bool {
        self.status == super::STATUS_SUSPENDED
    }
}

#[derive(Clone, Copy)]
struct Slot {
    /// Offset of the name in the arena. `u32` bounds the arena at 4 GiB, about 150 million
    /// names of average length: far beyond a national registry.
    offset: u32,
    len: u8,
    record: Record,
}

pub struct Table {
    arena: String,
    /// Slots live in the hash table itself: a probe reads the slot and then the name, with no
    /// third indirection (each is a likely cache miss at a million entries).
    map: HashTable<Slot>,
    hasher: foldhash::fast::FixedState,
}

impl Table {
    pub fn empty(seed: u64) -> Table {
        Table::build(seed, 0, std::iter::empty())
    }

    /// Builds a table from `(name, record)` pairs; a later pair for the same name wins.
    pub fn build<'a>(
        seed: u64,
        capacity: usize,
        items: impl Iterator<Item = (&'a str, Record)>,
    ) -> Table {
        let mut table = Table {
            arena: String::with_capacity(capacity * 24),
            map: HashTable::with_capacity(capacity),
            hasher: foldhash::fast::FixedState::with_seed(seed),
        };
        for (name, record) in items {
            table.insert(name, record);
        }
        table.arena.shrink_to_fit();
        let (arena, hasher) = (&table.arena, &table.hasher);
        table
            .map
            .shrink_to_fit(|slot| table_hash(hasher, slot_name(arena, slot)));
        table
    }

    fn insert(&mut self, name: &str, record: Record) {
        let hash = table_hash(&self.hasher, name);
        let arena = &self.arena;
        if let Some(slot) = self
            .map
            .find_mut(hash, |slot| slot_name(arena, slot) == name)
        {
            slot.record = record;
            return;
        }
        // Domain names are at most 253 octets, so the length always fits in a byte.
        let slot = Slot {
            offset: self.arena.len() as u32,
            len: name.len() as u8,
            record,
        };
        self.arena.push_str(name);
        let (arena, hasher) = (&self.arena, &self.hasher);
        self.map.insert_unique(hash, slot, |slot| {
            table_hash(hasher, slot_name(arena, slot))
        });
    }

    pub fn get(&self, name: &str) -> Option<Record> {
        let hash = table_hash(&self.hasher, name);
        self.map
            .find(hash, |slot| {
                slot.len as usize == name.len() && slot_name(&self.arena, slot) == name
            })
            .map(|slot| slot.record)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Record)> {
        self.map
            .iter()
            .map(|slot| (slot_name(&self.arena, slot), slot.record))
    }

    /// Bytes held on the heap, for the index size metric.
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity() + self.map.capacity() * (std::mem::size_of::<Slot>() + 1)
    }
}

fn slot_name<'a>(arena: &'a str, slot: &Slot) -> &'a str {
    let start = slot.offset as usize;
    &arena[start..start + slot.len as usize]
}

fn table_hash(hasher: &foldhash::fast::FixedState, name: &str) -> u64 {
    use std::hash::BuildHasher;
    hasher.hash_one(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u8) -> Record {
        Record {
            entry_id: [n; 16],
            scope: 0,
            category: n,
            status: 0,
        }
    }

    #[test]
    fn finds_what_was_inserted_and_nothing_else() {
        let names = ["a.example", "b.example", "shop.example.cn"];
        let table = Table::build(
            7,
            3,
            names.iter().enumerate().map(|(i, n)| (*n, record(i as u8))),
        );
        assert_eq!(table.len(), 3);
        assert_eq!(table.get("b.example"), Some(record(1)));
        assert_eq!(table.get("example"), None);
        assert_eq!(table.get("hop.example.cn"), None);
    }

    #[test]
    fn a_later_pair_for_the_same_name_wins() {
        let table = Table::build(
            1,
            2,
            [("x.example", record(1)), ("x.example", record(2))].into_iter(),
        );
        assert_eq!(table.len(), 1);
        assert_eq!(table.get("x.example"), Some(record(2)));
    }
}
