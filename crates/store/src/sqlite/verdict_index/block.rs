//! Blocks: a run's sorted `(key, seq)` entries, about sixty to a row of `verdict_key_blocks`.
//!
//! One row per entry would cost a B-tree insert (and later a delete) per verdict per level; a block costs one per
//! sixty. Sixty entries (960 bytes) still fit in a leaf cell of a 4 KiB page (SQLite moves a payload of more than
//! about 1 000 bytes to overflow pages), so a probe reads one page. A key never spans two blocks, so the one block
//! whose first key is the last at or below a key holds all of that key's entries.

use super::key::VerdictKey;
use crate::{StoreError, StoreResult};

/// Entries a block is cut at (more when the cut would split a key).
pub(super) const BLOCK_ENTRIES: usize = 60;

/// Bytes of one encoded entry: key, then seq, each little-endian.
const ENTRY_BYTES: usize = 16;

/// One verdict in a run: its key and its row (`verdicts.seq`). Ordered by key, then seq.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Entry {
    pub(crate) key: VerdictKey,
    pub(crate) seq: i64,
}

/// The bytes of a block of sorted entries.
pub(super) fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(entries.len() * ENTRY_BYTES);
    for entry in entries {
        bytes.extend_from_slice(&entry.key.0.to_le_bytes());
        bytes.extend_from_slice(&entry.seq.to_le_bytes());
    }
    bytes
}

/// The entries of a block.
pub(super) fn decode(bytes: &[u8]) -> StoreResult<Vec<Entry>> {
    Ok((0..count(bytes)?).map(|i| entry_at(bytes, i)).collect())
}

/// The seqs stored under `key` in a block (binary search; nothing is decoded but the probes).
pub(super) fn seqs_of(bytes: &[u8], key: VerdictKey) -> StoreResult<Vec<i64>> {
    let count = count(bytes)?;
    let (mut low, mut high) = (0, count);
    while low < high {
        let middle = low + (high - low) / 2;
        if entry_at(bytes, middle).key < key {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    Ok((low..count).map(|i| entry_at(bytes, i)).take_while(|entry| entry.key == key).map(|e| e.seq).collect())
}

/// `entries` (sorted) cut into blocks of [`BLOCK_ENTRIES`], each cut moved past the entries that share the key
/// before it.
pub(super) fn blocks(entries: &[Entry]) -> Vec<&[Entry]> {
    let mut blocks = Vec::with_capacity(entries.len().div_ceil(BLOCK_ENTRIES));
    let mut rest = entries;
    while !rest.is_empty() {
        let mut cut = BLOCK_ENTRIES.min(rest.len());
        while cut < rest.len() && rest[cut].key == rest[cut - 1].key {
            cut += 1;
        }
        let (block, after) = rest.split_at(cut);
        blocks.push(block);
        rest = after;
    }
    blocks
}

fn count(bytes: &[u8]) -> StoreResult<usize> {
    if !bytes.len().is_multiple_of(ENTRY_BYTES) {
        return Err(StoreError::Corrupt {
            table: "verdict_key_blocks",
            reason: format!("a block of {} bytes is not whole entries", bytes.len()),
        });
    }
    Ok(bytes.len() / ENTRY_BYTES)
}

fn entry_at(bytes: &[u8], index: usize) -> Entry {
    let at = index * ENTRY_BYTES;
    let word = |offset: usize| {
        let mut word = [0; 8];
        word.copy_from_slice(&bytes[at + offset..at + offset + 8]);
        i64::from_le_bytes(word)
    };
    Entry { key: VerdictKey(word(0)), seq: word(8) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn entry(key: i64, seq: i64) -> Entry {
        Entry { key: VerdictKey(key), seq }
    }

    #[test]
    fn a_block_round_trips() {
        let entries = vec![entry(i64::MIN, 3), entry(-1, 1), entry(0, i64::MAX), entry(7, 2), entry(7, 9)];
        let bytes = encode(&entries);
        assert_eq!(bytes.len(), 80);
        assert_eq!(decode(&bytes).unwrap(), entries);
    }

    #[test]
    fn a_key_is_found_with_every_seq_it_has() {
        let entries: Vec<Entry> = (0..50).flat_map(|k| [entry(k * 10, k), entry(k * 10, k + 100)]).collect();
        let bytes = encode(&entries);
        assert_eq!(seqs_of(&bytes, VerdictKey(0)).unwrap(), [0, 100]);
        assert_eq!(seqs_of(&bytes, VerdictKey(250)).unwrap(), [25, 125]);
        assert_eq!(seqs_of(&bytes, VerdictKey(490)).unwrap(), [49, 149]);
        for absent in [-5, 5, 251, 495, i64::MAX] {
            assert!(seqs_of(&bytes, VerdictKey(absent)).unwrap().is_empty(), "{absent}");
        }
        assert!(seqs_of(&[], VerdictKey(1)).unwrap().is_empty());
    }

    #[test]
    fn a_torn_block_is_corrupt() {
        let bytes = encode(&[entry(1, 1), entry(2, 2)]);
        assert!(matches!(decode(&bytes[..15]), Err(StoreError::Corrupt { .. })));
        assert!(seqs_of(&bytes[..17], VerdictKey(1)).is_err());
    }

    #[test]
    fn blocks_are_cut_at_sixty_but_never_inside_a_key() {
        let plain: Vec<Entry> = (0..130).map(|i| entry(i, i)).collect();
        let sizes: Vec<usize> = blocks(&plain).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [60, 60, 10]);
        // Entries 58..=62 share one key: the first cut moves past them.
        let mut shared = plain.clone();
        for e in &mut shared[58..=62] {
            e.key = VerdictKey(58);
        }
        let cut = blocks(&shared);
        assert_eq!(cut.iter().map(|b| b.len()).collect::<Vec<_>>(), [63, 60, 7]);
        assert_eq!(cut.concat(), shared);
        assert!(blocks(&[]).is_empty());
    }
}
