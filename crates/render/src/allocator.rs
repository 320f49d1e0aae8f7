//! Keeps a decode's large buffers in the heap between renders.
//!
//! libjpeg-turbo decodes a progressive JPEG into a whole-image coefficient buffer (about
//! 55 MB for a 9 MP photo) that it allocates with `malloc` and zeroes. glibc serves blocks
//! that large with a fresh `mmap` and unmaps them on `free`, so every render paid for the
//! kernel zeroing and faulting in those pages again: about 8% of a 1000 px render, and the
//! same every time on a render thread that never stops. Raising glibc's mmap and trim
//! thresholds lets a render thread reuse the block it freed last time instead. The cost is
//! that each render thread's arena keeps about its peak allocation resident, which is the
//! memory it needs again on its next large photo anyway.
#![allow(unsafe_code)]

/// Blocks up to this size come from the heap and freed memory up to this size stays there.
/// glibc refuses an mmap threshold above half its 64 MiB heap size on 64-bit systems.
const THRESHOLD: i32 = 1 << 30;

/// Tunes the C allocator for rendering (glibc only; elsewhere it does nothing). Call once at
/// start-up, before render threads exist. Returns whether the allocator took the setting.
pub fn keep_decode_buffers() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes two of glibc's malloc parameters, under malloc's own
        // lock; it takes no pointers and invalidates no existing allocation.
        let mmap = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD) };
        // SAFETY: as above.
        let trim = unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, THRESHOLD) };
        mmap == 1 && trim == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_setting() {
        assert!(super::keep_decode_buffers());
    }
}
