//! Lowercased product names in one contiguous buffer, so a substring search is one SIMD scan
//! (`memchr::memmem`) over a few megabytes instead of a regular expression per document.
//!
//! Each entry is a lowercased name followed by NUL. Search text never contains NUL (the API
//! refuses it), so a match never spans two entries. A rename appends a new entry and leaves the old
//! one as garbage; [`Names::compact`] rewrites the buffer when garbage piles up.

use memchr::memmem::Finder;

/// No entry: the slot was removed.
const NONE: u32 = u32::MAX;

/// The lowercased names of every slot.
#[derive(Default)]
pub(super) struct Names {
    bytes: Vec<u8>,
    /// Start of each entry in `bytes`, increasing.
    starts: Vec<u32>,
    /// The slot each entry belongs (or belonged) to.
    owners: Vec<u32>,
    /// Per slot: where its current entry starts and how long the name is.
    spans: Vec<(u32, u32)>,
    /// Bytes of entries that are no longer current.
    garbage: usize,
}

impl Names {
    /// Makes `name` (already lowercased) the current name of `slot`.
    pub(super) fn set(&mut self, slot: u32, name: &str) {
        self.retire(slot);
        let start = offset(self.bytes.len());
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.starts.push(start);
        self.owners.push(slot);
        let index = slot as usize;
        if self.spans.len() <= index {
            self.spans.resize(index + 1, (NONE, 0));
        }
        self.spans[index] = (start, offset(name.len()));
    }

    /// Forgets the name of `slot`.
    pub(super) fn retire(&mut self, slot: u32) {
        if let Some(span) = self.spans.get_mut(slot as usize)
            && span.0 != NONE
        {
            self.garbage += span.1 as usize + 1;
            *span = (NONE, 0);
        }
    }

    /// The current name of `slot` (empty for a removed slot).
    pub(super) fn get(&self, slot: u32) -> &[u8] {
        match self.spans.get(slot as usize) {
            Some(&(start, len)) if start != NONE => {
                &self.bytes[start as usize..(start + len) as usize]
            }
            _ => &[],
        }
    }

    /// Every slot whose current name contains `needle`, in buffer order.
    pub(super) fn containing(&self, needle: &Finder<'_>) -> Vec<u32> {
        let mut found = Vec::new();
        let mut from = 0;
        while let Some(at) = needle.find(&self.bytes[from..]) {
            let at = from + at;
            let entry = self.starts.partition_point(|&start| start as usize <= at) - 1;
            let start = self.starts[entry];
            let owner = self.owners[entry];
            if self.spans[owner as usize].0 == start {
                found.push(owner);
            }
            from = self
                .starts
                .get(entry + 1)
                .map_or(self.bytes.len(), |&next| next as usize);
        }
        found
    }

    /// Whether garbage makes up more than a quarter of the buffer.
    pub(super) fn wants_compaction(&self) -> bool {
        self.garbage > 4096 && self.garbage * 4 > self.bytes.len()
    }

    /// Rewrites the buffer with only the current names, in the order of `slots`.
    pub(super) fn compact(&mut self, slots: &[u32]) {
        let mut fresh = Names {
            bytes: Vec::with_capacity(self.bytes.len() - self.garbage),
            starts: Vec::with_capacity(slots.len()),
            owners: Vec::with_capacity(slots.len()),
            spans: vec![(NONE, 0); self.spans.len()],
            garbage: 0,
        };
        for &slot in slots {
            let name = self.get(slot);
            let start = offset(fresh.bytes.len());
            fresh.bytes.extend_from_slice(name);
            fresh.bytes.push(0);
            fresh.starts.push(start);
            fresh.owners.push(slot);
            fresh.spans[slot as usize] = (start, offset(name.len()));
        }
        *self = fresh;
    }

    /// Bytes held, for the memory estimate in logs.
    pub(super) fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
            + (self.starts.capacity() + self.owners.capacity()) * 4
            + self.spans.capacity() * 8
    }
}

/// A buffer offset as stored. Names are at most a few hundred bytes and a catalog holds far
/// fewer than 4 GiB of them; past that the model would be the wrong design anyway.
fn offset(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(NONE - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finder(text: &str) -> Finder<'_> {
        Finder::new(text.as_bytes())
    }

    #[test]
    fn finds_each_slot_once_and_skips_old_names() {
        let mut names = Names::default();
        names.set(0, "lamp lamp lamp");
        names.set(1, "desk");
        names.set(2, "lampshade");
        names.set(1, "floor lamp");
        names.retire(2);

        assert_eq!(names.containing(&finder("lamp")), [0, 1]);
        assert_eq!(names.containing(&finder("desk")), Vec::<u32>::new());
        assert_eq!(names.get(1), b"floor lamp");
        assert_eq!(names.get(2), b"");
    }

    #[test]
    fn a_match_never_spans_two_names() {
        let mut names = Names::default();
        names.set(0, "ab");
        names.set(1, "cd");
        assert!(names.containing(&finder("bc")).is_empty());
    }

    #[test]
    fn compaction_keeps_current_names_in_the_given_order() {
        let mut names = Names::default();
        names.set(0, "one");
        names.set(1, "two");
        names.set(0, "uno");
        names.compact(&[1, 0]);
        assert_eq!(names.get(0), b"uno");
        assert_eq!(names.get(1), b"two");
        assert_eq!(names.containing(&finder("o")), [1, 0]);
    }
}
