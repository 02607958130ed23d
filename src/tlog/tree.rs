//! The log's Merkle tree as tiles of height 8 (C2SP `tlog-tiles`): level `L` lists the hashes
//! of the tree's perfect subtrees of `256^L` leaves, 256 to a tile. A tree grows by appending
//! leaf hashes; only the last tile of each level changes, so that is all a `Tree` holds.
//! Everything older is in the store, written once and never again.

use std::collections::BTreeMap;

use tlog_tiles::{HASH_SIZE, Hash, node_hash};

/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// log2 of `TILE_WIDTH`: a tile spans this many levels of the tree.
pub const TILE_HEIGHT: u8 = 8;

/// A tile by its level and its index within the level.
pub type TileId = (u8, u64);

/// The right edge of a tree of `size` leaves: the last, partial tile of each level (empty
/// when the level's hashes fill whole tiles), and the tiles changed since they were last
/// taken (`take_changed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    size: u64,
    /// Level L: the hashes of the last partial tile of level L, `HASH_SIZE` bytes each.
    edges: Vec<Vec<u8>>,
    changed: BTreeMap<TileId, Vec<u8>>,
}

/// The tiles whose data gives the right edge of a tree of `size` leaves: per level, the
/// partial tile and its width (none for a level whose hashes fill whole tiles).
pub fn edge_tiles(size: u64) -> Vec<(TileId, u64)> {
    let mut tiles = Vec::new();
    let mut level = 0u8;
    while level < 8 && (size >> (u32::from(level) * u32::from(TILE_HEIGHT))) > 0 {
        let count = size >> (u32::from(level) * u32::from(TILE_HEIGHT));
        let width = count % TILE_WIDTH;
        if width > 0 {
            tiles.push(((level, count / TILE_WIDTH), width));
        }
        level += 1;
    }
    tiles
}

/// How many hashes tile `id` lists in a tree of `size` leaves: 256 for a full tile, fewer
/// for the last one of its level, 0 for one beyond the tree.
pub fn tile_width(size: u64, (level, index): TileId) -> u64 {
    if level >= 8 {
        return 0;
    }
    let count = size >> (u32::from(level) * u32::from(TILE_HEIGHT));
    count
        .saturating_sub(index.saturating_mul(TILE_WIDTH))
        .min(TILE_WIDTH)
}

impl Tree {
    pub fn empty() -> Tree {
        Tree {
            size: 0,
            edges: Vec::new(),
            changed: BTreeMap::new(),
        }
    }

    /// The tree of `size` leaves whose edge tiles (`edge_tiles(size)`) hold `tiles`, each at
    /// least as wide as the edge needs (a stored tile may have grown since).
    pub fn from_edges(size: u64, tiles: &BTreeMap<TileId, Vec<u8>>) -> Result<Tree, String> {
        let mut edges = Vec::new();
        let mut level = 0u8;
        while level < 8 && (size >> (u32::from(level) * u32::from(TILE_HEIGHT))) > 0 {
            let count = size >> (u32::from(level) * u32::from(TILE_HEIGHT));
            let width = (count % TILE_WIDTH) as usize;
            let edge = if width == 0 {
                Vec::new()
            } else {
                let id = (level, count / TILE_WIDTH);
                let data = tiles
                    .get(&id)
                    .ok_or_else(|| format!("tile {}/{} is missing", id.0, id.1))?;
                if data.len() < width * HASH_SIZE || data.len() % HASH_SIZE != 0 {
                    return Err(format!(
                        "tile {}/{} holds {} bytes; a tree of {size} needs {}",
                        id.0,
                        id.1,
                        data.len(),
                        width * HASH_SIZE
                    ));
                }
                data[..width * HASH_SIZE].to_vec()
            };
            edges.push(edge);
            level += 1;
        }
        Ok(Tree {
            size,
            edges,
            changed: BTreeMap::new(),
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf: its hash goes to level 0; a tile that fills up is hashed into the
    /// level above, and so on.
    pub fn append(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut level = 0usize;
        loop {
            if self.edges.len() == level {
                self.edges.push(Vec::with_capacity(HASH_SIZE));
            }
            let count = self.size >> (level as u32 * u32::from(TILE_HEIGHT));
            let id = (level as u8, count / TILE_WIDTH);
            let edge = &mut self.edges[level];
            edge.extend_from_slice(&hash.0);
            self.changed.insert(id, edge.clone());
            if edge.len() < TILE_WIDTH as usize * HASH_SIZE {
                break;
            }
            hash = perfect_root(edge);
            edge.clear();
            level += 1;
        }
        self.size += 1;
    }

    /// The root hash (RFC 6962's `MTH`) of the tree.
    pub fn root(&self) -> Hash {
        // The tree's perfect subtrees in leaf order, largest first: each set bit of the size
        // is one, made of consecutive hashes of one edge.
        let mut roots = Vec::new();
        for bit in (0..64u32).rev() {
            if self.size & (1 << bit) == 0 {
                continue;
            }
            let level = (bit / u32::from(TILE_HEIGHT)) as usize;
            let span = 1usize << (bit % u32::from(TILE_HEIGHT));
            // Within its edge, this subtree follows those of the higher bits of this level.
            let within = (self.size >> (level as u32 * u32::from(TILE_HEIGHT))) as usize
                % TILE_WIDTH as usize;
            let before = within & !((span << 1) - 1);
            let edge = &self.edges[level];
            roots.push(perfect_root(
                &edge[before * HASH_SIZE..(before + span) * HASH_SIZE],
            ));
        }
        let Some(mut hash) = roots.pop() else {
            return tlog_tiles::EMPTY_HASH;
        };
        while let Some(left) = roots.pop() {
            hash = node_hash(left, hash);
        }
        hash
    }

    /// The tiles changed since the last call, each with all its data so far.
    pub fn take_changed(&mut self) -> Vec<(TileId, Vec<u8>)> {
        std::mem::take(&mut self.changed).into_iter().collect()
    }
}

/// The root of a perfect subtree over `hashes` (a power of two of them, concatenated).
pub fn perfect_root(hashes: &[u8]) -> Hash {
    tlog_tiles::Tile::subtree_hash(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tlog_tiles::record_hash;

    fn leaf(i: u64) -> Hash {
        record_hash(&i.to_be_bytes())
    }

    /// RFC 6962's MTH, straight from its definition.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => tlog_tiles::EMPTY_HASH,
            1 => leaves[0],
            n => {
                let k = n.next_power_of_two() / 2;
                node_hash(mth(&leaves[..k]), mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn the_root_is_the_rfc_root_at_every_size_across_tile_boundaries() {
        let mut tree = Tree::empty();
        let mut leaves = Vec::new();
        for i in 0..70_000u64 {
            let sizes = [
                1, 2, 3, 255, 256, 257, 511, 512, 513, 65_535, 65_536, 65_537,
            ];
            if sizes.contains(&i) || i % 997 == 0 {
                assert_eq!(tree.root(), mth(&leaves), "size {i}");
            }
            tree.append(leaf(i));
            leaves.push(leaf(i));
        }
        assert_eq!(tree.root(), mth(&leaves));
    }

    #[test]
    fn a_tree_rebuilt_from_its_stored_edges_grows_as_the_original() {
        let mut tree = Tree::empty();
        let mut stored = BTreeMap::new();
        for i in 0..66_000u64 {
            tree.append(leaf(i));
            if i % 1_000 == 0 {
                stored.extend(tree.take_changed());
                let rebuilt = Tree::from_edges(tree.size(), &stored).expect("edges");
                assert_eq!(rebuilt.root(), tree.root(), "size {}", tree.size());
                tree = rebuilt;
            }
        }
        stored.extend(tree.take_changed());
        // Every stored tile is as wide as its level's count says.
        for (&id, data) in &stored {
            assert_eq!(
                data.len() as u64,
                tile_width(tree.size(), id) * 32,
                "{id:?}"
            );
        }
        assert!(Tree::from_edges(tree.size(), &BTreeMap::new()).is_err());
    }

    #[test]
    fn edge_tiles_name_the_partial_tile_of_each_level() {
        assert_eq!(edge_tiles(0), vec![]);
        assert_eq!(edge_tiles(5), vec![((0, 0), 5)]);
        assert_eq!(edge_tiles(256), vec![((1, 0), 1)]);
        assert_eq!(
            edge_tiles(70_000),
            vec![((0, 273), 112), ((1, 1), 17), ((2, 0), 1)]
        );
        assert_eq!(tile_width(70_000, (0, 0)), 256);
        assert_eq!(tile_width(70_000, (0, 274)), 0);
    }
}
