//! Buffers for output images whose every byte a filter (or a read-back
//! from the GPU) writes: left uninitialised, since zeroing tens of
//! megabytes is measurable, and advised onto huge pages
//! ([`crate::host_pool::prefer_huge_pages`]), since a fresh 4K image
//! otherwise takes eight thousand page faults.

use image::RgbaImage;
use std::mem::MaybeUninit;

/// `len` bytes to be written, on untouched pages.
pub(crate) fn uninit(len: usize) -> Vec<MaybeUninit<u8>> {
    let mut v = Vec::with_capacity(len);
    // SAFETY: `MaybeUninit<u8>` needs no initialisation.
    unsafe { v.set_len(len) };
    crate::host_pool::prefer_huge_pages(&v);
    v
}

/// The image in `bytes`, every one of which the caller has written.
pub(crate) fn image_from(width: usize, height: usize, bytes: Vec<MaybeUninit<u8>>) -> RgbaImage {
    let mut bytes = std::mem::ManuallyDrop::new(bytes);
    let (ptr, len, cap) = (bytes.as_mut_ptr(), bytes.len(), bytes.capacity());
    // SAFETY: the callers write every byte before calling this, and
    // `MaybeUninit<u8>` has the layout of `u8`; ownership moves to the new Vec.
    let bytes = unsafe { Vec::from_raw_parts(ptr.cast::<u8>(), len, cap) };
    RgbaImage::from_raw(width as u32, height as u32, bytes)
        .expect("the buffer has width × height pixels")
}
