//! A heap of a given size with every page touched, in small (4 KiB) or huge (2 MiB) pages: the
//! parent's memory that `fork` has to copy the page tables of.
//!
//! `fork` does not copy memory, but it copies the page tables that map it (and marks every page
//! copy-on-write), so it costs in proportion to the pages the parent has touched: one entry per
//! 4 KiB page, or one per 2 MiB huge page, 512 times fewer. The heap is an anonymous private
//! mapping, advised `MADV_NOHUGEPAGE` or `MADV_HUGEPAGE` (which the kernel honours when
//! transparent huge pages are `madvise` or `always`), or a shared one (`MAP_SHARED`, as the
//! crate's shared memory is), whose page tables `fork` does not copy at all: the child maps its
//! pages when it first touches them. Every 4 KiB is written once, so that every page is there.

use std::ffi::c_void;
use std::num::NonZeroUsize;
use std::ptr::NonNull;

use nix::sys::mman::{MapFlags, MmapAdvise, ProtFlags, madvise, mmap_anonymous, munmap};
use serde::Serialize;

use crate::error::Result;

/// Which pages back the heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pages {
    /// 4 KiB pages (`MADV_NOHUGEPAGE`): what a `Vec` gets unless THP is `always`.
    Small,
    /// Transparent huge pages, 2 MiB (`MADV_HUGEPAGE`).
    Huge,
    /// A shared mapping (`MAP_SHARED`), 4 KiB pages: `fork` leaves its page tables to be
    /// filled in the child, on demand.
    Shared,
}

/// A touched anonymous mapping, unmapped when dropped.
pub struct TouchedHeap {
    start: Option<NonNull<c_void>>,
    len: usize,
}

impl TouchedHeap {
    /// Maps `bytes` (none for 0), advises the page size and writes one byte per 4 KiB.
    pub fn new(bytes: usize, pages: Pages) -> Result<TouchedHeap> {
        let Some(len) = NonZeroUsize::new(bytes) else {
            return Ok(TouchedHeap { start: None, len: 0 });
        };
        let sharing = if pages == Pages::Shared { MapFlags::MAP_SHARED } else { MapFlags::MAP_PRIVATE };
        // SAFETY: a fresh anonymous mapping, aliasing nothing of ours; unmapped in `drop`.
        let start =
            unsafe { mmap_anonymous(None, len, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, sharing) }?;
        let heap = TouchedHeap { start: Some(start), len: bytes };
        let advice = match pages {
            Pages::Small | Pages::Shared => MmapAdvise::MADV_NOHUGEPAGE,
            Pages::Huge => MmapAdvise::MADV_HUGEPAGE,
        };
        // SAFETY: advice about our own mapping, of its exact extent; it changes no contents.
        unsafe { madvise(start, bytes, advice) }?;
        let base = start.as_ptr().cast::<u8>();
        for offset in (0..bytes).step_by(4096) {
            // SAFETY: `offset < bytes`, inside the mapping, which is writable and ours alone.
            unsafe { base.add(offset).write_volatile(1) };
        }
        Ok(heap)
    }

    /// The bytes mapped.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How much of it the kernel backs with huge pages, in bytes (`AnonHugePages` of its line in
    /// `/proc/self/smaps`); `None` when that cannot be read.
    pub fn huge_bytes(&self) -> Option<u64> {
        let start = self.start?.as_ptr() as u64;
        huge_bytes_at(&std::fs::read_to_string("/proc/self/smaps").ok()?, start)
    }
}

/// `AnonHugePages` of the mapping that holds `address`, from the text of `/proc/PID/smaps`: a
/// header line `lo-hi perms ...` per mapping, then its `Name: value` lines.
pub fn huge_bytes_at(smaps: &str, address: u64) -> Option<u64> {
    let mut inside = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((lo, hi)) = first.split_once('-') {
            let range = u64::from_str_radix(lo, 16).ok().zip(u64::from_str_radix(hi, 16).ok());
            inside = range.is_some_and(|(lo, hi)| (lo..hi).contains(&address));
        } else if inside && first == "AnonHugePages:" {
            return crate::machine::meminfo_field(line, "AnonHugePages:");
        }
    }
    None
}

impl Drop for TouchedHeap {
    fn drop(&mut self) {
        if let Some(start) = self.start {
            // SAFETY: the mapping made in `new`, of its exact length; nothing refers into it.
            let _ = unsafe { munmap(start, self.len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_smaps() {
        let smaps = "1000-3000 rw-p 00000000 00:00 0\nSize: 8 kB\nAnonHugePages:  0 kB\n\
                     3000-9000 rw-p 00000000 00:00 0\nAnonHugePages:  4 kB\n";
        assert_eq!(huge_bytes_at(smaps, 0x1800), Some(0));
        assert_eq!(huge_bytes_at(smaps, 0x3000), Some(4096));
        assert_eq!(huge_bytes_at(smaps, 0x9000), None);
    }

    #[test]
    fn maps_touches_and_says_what_backs_it() {
        let empty = TouchedHeap::new(0, Pages::Small).unwrap();
        assert!(empty.is_empty() && empty.huge_bytes().is_none());
        let small = TouchedHeap::new(8 << 20, Pages::Small).unwrap();
        assert_eq!(small.len(), 8 << 20);
        assert_eq!(small.huge_bytes(), Some(0));
        let huge = TouchedHeap::new(8 << 20, Pages::Huge).unwrap();
        // Huge pages only when the kernel has them on and can find 2 MiB of contiguous memory.
        assert!(huge.huge_bytes().is_some_and(|b| b <= 8 << 20));
        let shared = TouchedHeap::new(8 << 20, Pages::Shared).unwrap();
        assert_eq!(shared.huge_bytes(), Some(0));
    }
}
