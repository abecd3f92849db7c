//! Object names of the archive layout (`schemas/archive-v1.md`): pure
//! functions of a tree size, so a reader computes every name it needs and lists
//! nothing.

use cairn_store::pieces::BUNDLE_ENTRIES;
use cairn_store::tiles::{TILE_HEIGHT, TILE_WIDTH};

/// The newest archived checkpoint: the archive's watermark.
pub const CHECKPOINT: &str = "checkpoint";

/// The folder of every archived checkpoint, by size.
pub const CHECKPOINTS: &str = "checkpoints";

/// An index as tlog-tiles writes it: groups of three digits, all but the last
/// prefixed with `x` (`1234067` → `x001/x234/067`).
pub fn index_path(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

fn with_width(base: String, width: u64, full: u64) -> String {
    if width == full {
        base
    } else {
        format!("{base}.p/{width}")
    }
}

/// The entry bundle of window `n` holding its first `width` entries.
pub fn entries(n: u64, width: u64) -> String {
    with_width(
        format!("tile/entries/{}", index_path(n)),
        width,
        BUNDLE_ENTRIES,
    )
}

/// The payload bundle of window `n` holding its first `width` entries.
pub fn payloads(n: u64, width: u64) -> String {
    with_width(
        format!("tile/payloads/{}", index_path(n)),
        width,
        BUNDLE_ENTRIES,
    )
}

/// Tile `n` of tile level `level`, holding its first `width` hashes.
pub fn tile(level: u8, n: u64, width: u64) -> String {
    with_width(format!("tile/{level}/{}", index_path(n)), width, TILE_WIDTH)
}

/// The archived checkpoint at tree size `size`.
pub fn checkpoint_at(size: u64) -> String {
    format!("{CHECKPOINTS}/{size:020}")
}

/// The size of an archived checkpoint's name, if it is one.
pub fn parse_checkpoint_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(CHECKPOINTS)?.strip_prefix('/')?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Windows of an archive of `size` entries: `(index, width)`, in order.
pub fn windows(size: u64) -> impl Iterator<Item = (u64, u64)> {
    (0..size.div_ceil(BUNDLE_ENTRIES)).map(move |n| {
        let width = (size - n * BUNDLE_ENTRIES).min(BUNDLE_ENTRIES);
        (n, width)
    })
}

/// Hashes at tile level `level` in a tree of `size` leaves (complete subtrees
/// of height `8·level`).
pub fn level_hashes(size: u64, level: u8) -> u64 {
    let shift = u32::from(level) * u32::from(TILE_HEIGHT);
    if shift >= 64 {
        0
    } else {
        size >> shift
    }
}

/// The width of tile `(level, index)` of a tree of `size` leaves, if the
/// tree has that tile (what [`tiles`] lists for it, without listing them all).
pub fn tile_width(size: u64, level: u8, index: u64) -> Option<u64> {
    let n = level_hashes(size, level);
    let first = index.checked_mul(TILE_WIDTH)?;
    (first < n).then(|| (n - first).min(TILE_WIDTH))
}

/// Tiles of a tree of `size` leaves: `(level, index, width)`, level by level.
pub fn tiles(size: u64) -> Vec<(u8, u64, u64)> {
    let mut out = Vec::new();
    let mut level = 0u8;
    loop {
        let n = level_hashes(size, level);
        if n == 0 {
            return out;
        }
        for i in 0..n.div_ceil(TILE_WIDTH) {
            out.push((level, i, (n - i * TILE_WIDTH).min(TILE_WIDTH)));
        }
        level += 1;
    }
}

/// The names of the partial objects (right edge) of an archive of `size` entries.
pub fn partial_names(size: u64) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((n, w)) = windows(size).last().filter(|(_, w)| *w < BUNDLE_ENTRIES) {
        out.push(entries(n, w));
        out.push(payloads(n, w));
    }
    for (level, i, w) in tiles(size) {
        if w < TILE_WIDTH {
            out.push(tile(level, i, w));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_written_as_tlog_tiles_writes_them() {
        assert_eq!(index_path(0), "000");
        assert_eq!(index_path(5), "005");
        assert_eq!(index_path(1000), "x001/000");
        assert_eq!(index_path(1_234_067), "x001/x234/067");
        assert_eq!(tile(0, 1_234_067, 256), "tile/0/x001/x234/067");
        assert_eq!(tile(1, 3, 17), "tile/1/003.p/17");
        assert_eq!(entries(2, 256), "tile/entries/002");
        assert_eq!(payloads(2, 9), "tile/payloads/002.p/9");
    }

    #[test]
    fn checkpoint_names_sort_by_size_and_parse_back() {
        assert_eq!(checkpoint_at(42), "checkpoints/00000000000000000042");
        assert!(checkpoint_at(9) < checkpoint_at(10));
        assert_eq!(
            parse_checkpoint_name(&checkpoint_at(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(parse_checkpoint_name("checkpoints/12"), None);
        assert_eq!(parse_checkpoint_name("checkpoint"), None);
    }

    #[test]
    fn the_right_edge_is_partial_at_every_level() {
        // 300 leaves: level 0 has a full tile and 44 hashes; level 1 one hash.
        assert_eq!(tiles(300), vec![(0, 0, 256), (0, 1, 44), (1, 0, 1)]);
        assert_eq!(windows(300).collect::<Vec<_>>(), vec![(0, 256), (1, 44)]);
        assert_eq!(
            partial_names(300),
            vec![
                "tile/entries/001.p/44",
                "tile/payloads/001.p/44",
                "tile/0/001.p/44",
                "tile/1/000.p/1"
            ]
        );
        // 65536 leaves: the windows and the tiles of levels 0 and 1 are
        // full; level 2 holds the one complete subtree of height 16.
        assert_eq!(partial_names(65536), vec!["tile/2/000.p/1"]);
        assert!(tiles(0).is_empty());
    }

    #[test]
    fn a_tiles_width_is_what_the_list_of_tiles_says() {
        for size in [0, 1, 255, 256, 257, 65_535, 65_536, 70_000, 16_777_217] {
            let listed = tiles(size);
            for &(level, index, width) in &listed {
                assert_eq!(tile_width(size, level, index), Some(width), "{size}");
            }
            let levels = listed.iter().map(|t| t.0).max().map_or(0, |l| l + 1);
            for level in 0..=levels {
                let count = listed.iter().filter(|t| t.0 == level).count() as u64;
                assert_eq!(tile_width(size, level, count), None, "{size} {level}");
            }
        }
        assert_eq!(tile_width(u64::MAX, 0, u64::MAX), None);
    }
}
