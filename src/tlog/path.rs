//! Tile paths as C2SP `tlog-tiles` writes them, below the log's prefix: `tile/<L>/<N>` for a
//! full tile of hashes, `tile/<L>/<N>.p/<W>` for a partial one of `W` hashes, and
//! `tile/entries/<N>[.p/<W>]` for the entries themselves. `N` is written in groups of three
//! digits, all but the last prefixed with `x`: 1234067 is `x001/x234/067`.

use super::tree::TILE_WIDTH;

/// What a tile path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TilePath {
    /// `width` hashes of level `level`, tile `index`.
    Hashes { level: u8, index: u64, width: u64 },
    /// `width` entries of bundle `index` (entries `index * 256` on).
    Entries { index: u64, width: u64 },
}

impl TilePath {
    /// Parses the part of a path after `tile/`; `None` when it is not a tile path.
    pub fn parse(path: &str) -> Option<TilePath> {
        let (kind, rest) = path.split_once('/')?;
        let (number, width) = match rest.split_once(".p/") {
            Some((number, width)) => {
                let width = parse_digits(width)?;
                if width == 0 || width >= TILE_WIDTH {
                    return None;
                }
                (number, width)
            }
            None => (rest, TILE_WIDTH),
        };
        let index = parse_index(number)?;
        if kind == "entries" {
            return Some(TilePath::Entries { index, width });
        }
        let level = parse_digits(kind)?;
        if level > 7 {
            return None;
        }
        Some(TilePath::Hashes {
            level: level as u8,
            index,
            width,
        })
    }

    /// The path after `tile/`.
    pub fn to_path(self) -> String {
        let (kind, index, width) = match self {
            TilePath::Hashes {
                level,
                index,
                width,
            } => (level.to_string(), index, width),
            TilePath::Entries { index, width } => ("entries".to_string(), index, width),
        };
        let mut groups = vec![format!("{:03}", index % 1000)];
        let mut rest = index / 1000;
        while rest > 0 {
            groups.push(format!("x{:03}", rest % 1000));
            rest /= 1000;
        }
        groups.reverse();
        let partial = if width < TILE_WIDTH {
            format!(".p/{width}")
        } else {
            String::new()
        };
        format!("{kind}/{}{partial}", groups.join("/"))
    }
}

/// A decimal number without sign or needless leading zero.
fn parse_digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.len() > 1 && text.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

/// `x001/x234/067`: three digits a group, every group but the last prefixed with `x`, the
/// first group not zero unless it is the only one.
fn parse_index(text: &str) -> Option<u64> {
    let groups: Vec<&str> = text.split('/').collect();
    if groups.len() > 7 {
        return None;
    }
    let mut index: u64 = 0;
    for (i, group) in groups.iter().enumerate() {
        let last = i + 1 == groups.len();
        let digits = if last {
            *group
        } else {
            group.strip_prefix('x')?
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value: u64 = digits.parse().ok()?;
        if i == 0 && value == 0 && !last {
            return None;
        }
        index = index.checked_mul(1000)?.checked_add(value)?;
    }
    Some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_and_write_as_the_spec_shows() {
        let cases = [
            (
                "0/x001/x234/067",
                TilePath::Hashes {
                    level: 0,
                    index: 1_234_067,
                    width: 256,
                },
            ),
            (
                "1/000.p/17",
                TilePath::Hashes {
                    level: 1,
                    index: 0,
                    width: 17,
                },
            ),
            (
                "entries/x001/000.p/1",
                TilePath::Entries {
                    index: 1000,
                    width: 1,
                },
            ),
        ];
        for (text, path) in cases {
            assert_eq!(TilePath::parse(text), Some(path), "{text}");
            assert_eq!(path.to_path(), text);
        }
    }

    #[test]
    fn malformed_paths_are_refused() {
        for text in [
            "",
            "0",
            "0/",
            "0/1",
            "0/0001",
            "0/x000/001",
            "0/001/002",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/07",
            "8/000",
            "01/000",
            "data/000",
            "0/000.p/",
            "0/x001/x002/x003/x004/x005/x006/x007/008",
        ] {
            assert_eq!(TilePath::parse(text), None, "{text}");
        }
    }
}
