//! Moving bytes between host memory and device buffers.
//!
//! Small transfers take the direct path: `Queue::write_buffer` up, one
//! pooled read-back buffer down. Large ones (over [`DIRECT_MAX_BYTES`]) go
//! through a ring of [`SLOTS`] pooled staging buffers of [`STAGING_BYTES`]
//! each, so that
//! * no call allocates staging memory: `write_buffer` makes a new staging
//!   buffer of the whole size on every call, which on lavapipe made a
//!   64 MiB upload take 23–70 ms against 14 ms through the ring, and on a
//!   real driver means pinning fresh host memory each time;
//! * the device copies one piece while the host copies the next, and
//! * the host side of each piece is copied by several threads (rayon), in
//!   [`COPY_PIECE`]-byte parts, each through its own mapped range.
//!
//! Transfers are ordered with the rest of the queue: an upload's copies are
//! submitted before anything submitted after it returns, and a download
//! copies what every earlier submission wrote.

use super::buffers::{Pooled, POOL};
use super::device::Device;
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::cell::Cell;
use std::mem::MaybeUninit;
use std::sync::mpsc;

/// The largest transfer that takes the direct path.
pub(crate) const DIRECT_MAX_BYTES: usize = 1 << 20;

/// Bytes per staging buffer of the ring.
pub(crate) const STAGING_BYTES: usize = 4 << 20;

/// Staging buffers per large transfer: one being filled or emptied by the
/// host, the others being copied by the device.
pub(crate) const SLOTS: usize = 3;

/// Bytes one thread copies at a time between host memory and a mapped
/// staging buffer (a multiple of `wgpu::MAP_ALIGNMENT`).
const COPY_PIECE: usize = 1 << 20;

thread_local! {
    /// Whether this thread copies staging memory on its own, without rayon.
    static SERIAL_COPIES: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with this thread's staging copies made on the thread itself.
/// For GPU steps of the batch pipeline, which run on tokio's blocking
/// threads while rayon's workers decode and encode files: a copy handed to
/// rayon there would wait behind those jobs, with the device idle.
pub(crate) fn with_serial_copies<T>(f: impl FnOnce() -> T) -> T {
    /// Puts the thread's setting back, also when `f` panics (tokio reuses
    /// its blocking threads).
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            SERIAL_COPIES.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SERIAL_COPIES.with(|s| s.replace(true)));
    f()
}

fn failed(what: &str, reason: impl ToString) -> Error {
    Error::Gpu {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

/// Copies `bytes` (a multiple of 4 long) into `dst` at byte `offset` (a
/// multiple of 4). Small copies are queued (`Queue::write_buffer`: they
/// happen before the next submission runs); large ones are submitted
/// before this returns.
pub(crate) fn upload(device: &Device, dst: &wgpu::Buffer, offset: u64, bytes: &[u8]) -> Result<()> {
    debug_assert!(
        offset.is_multiple_of(4) && bytes.len().is_multiple_of(4),
        "{offset} {}",
        bytes.len()
    );
    if bytes.len() <= DIRECT_MAX_BYTES {
        device.queue.write_buffer(dst, offset, bytes);
        return Ok(());
    }
    let pieces = bytes.len().div_ceil(STAGING_BYTES);
    let mut ring = staging(
        device,
        wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
        pieces,
    )?;
    for (k, piece) in bytes.chunks(STAGING_BYTES).enumerate() {
        let buffer = &mut ring[k % SLOTS];
        let len = piece.len() as u64;
        let after = buffer.last_use.take();
        let filled = map(device, buffer, len, wgpu::MapMode::Write, after)
            .and_then(|()| copy_in(buffer, piece));
        buffer.unmap();
        filled.map_err(|e| failed("uploading to the GPU", e))?;
        let at = offset + (k * STAGING_BYTES) as u64;
        let mut encoder = new_encoder(device, "gpu-compute upload");
        encoder.copy_buffer_to_buffer(buffer, 0, dst, at, len);
        buffer.last_use = Some(device.queue.submit([encoder.finish()]));
    }
    Ok(())
}

/// Submits `encoder` (work whose results are wanted, or an empty one) with
/// a copy of `out.len()` bytes of `src` from byte `offset` (multiples of 4),
/// waits, and writes those bytes to `out`.
pub(crate) fn download(
    device: &Device,
    encoder: wgpu::CommandEncoder,
    src: &wgpu::Buffer,
    offset: u64,
    out: &mut [u8],
) -> Result<()> {
    download_uninit(device, encoder, src, offset, as_uninit(out))
}

/// [`download`] into memory not written yet (an output the caller has not
/// zeroed): every byte of `out` is written when this returns `Ok`.
pub(crate) fn download_uninit(
    device: &Device,
    mut encoder: wgpu::CommandEncoder,
    src: &wgpu::Buffer,
    offset: u64,
    out: &mut [MaybeUninit<u8>],
) -> Result<()> {
    debug_assert!(
        offset.is_multiple_of(4) && out.len().is_multiple_of(4),
        "{offset} {}",
        out.len()
    );
    let what = "reading back from the GPU";
    if out.len() <= DIRECT_MAX_BYTES {
        let len = out.len() as u64;
        let readback = POOL.acquire(
            &device.device,
            len,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            device.limits.max_buffer_size,
        )?;
        encoder.copy_buffer_to_buffer(src, offset, &readback, 0, len);
        let submission = device.queue.submit([encoder.finish()]);
        return read_mapped(device, &readback, Some(submission), out).map_err(|e| failed(what, e));
    }
    let pieces = out.len().div_ceil(STAGING_BYTES);
    let mut ring = staging(
        device,
        wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        pieces,
    )?;
    // Piece k's copy into its staging buffer; the first goes with `encoder`.
    let mut first = Some(encoder);
    let total = out.len();
    let mut copy = |k: usize, buffer: &mut Pooled<'static>| {
        let mut encoder = first
            .take()
            .unwrap_or_else(|| new_encoder(device, "gpu-compute download"));
        let at = k * STAGING_BYTES;
        let len = STAGING_BYTES.min(total - at) as u64;
        encoder.copy_buffer_to_buffer(src, offset + at as u64, buffer, 0, len);
        buffer.last_use = Some(device.queue.submit([encoder.finish()]));
    };
    for (k, buffer) in ring.iter_mut().enumerate() {
        copy(k, buffer);
    }
    for (k, piece) in out.chunks_mut(STAGING_BYTES).enumerate() {
        let buffer = &mut ring[k % SLOTS];
        let after = buffer.last_use.clone();
        read_mapped(device, buffer, after, piece).map_err(|e| failed(what, e))?;
        if k + SLOTS < pieces {
            copy(k + SLOTS, buffer);
        }
    }
    Ok(())
}

/// `out` as memory to be written, for the paths that write into memory not
/// written yet.
fn as_uninit(out: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and only
    // initialised bytes are written through the result.
    unsafe { &mut *(out as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

fn new_encoder(device: &Device, label: &'static str) -> wgpu::CommandEncoder {
    device
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
}

/// The ring's staging buffers for a transfer of `pieces` pieces, from the
/// pool.
fn staging(
    device: &Device,
    usage: wgpu::BufferUsages,
    pieces: usize,
) -> Result<Vec<Pooled<'static>>> {
    (0..SLOTS.min(pieces))
        .map(|_| {
            POOL.acquire(
                &device.device,
                STAGING_BYTES as u64,
                usage,
                device.limits.max_buffer_size,
            )
        })
        .collect()
}

/// Waits for `submission`, then copies the first `out.len()` values of
/// `buffer` (a `MAP_READ` buffer) into `out`.
pub(crate) fn read_back(
    device: &Device,
    buffer: &wgpu::Buffer,
    submission: wgpu::SubmissionIndex,
    out: &mut [f32],
) -> Result<()> {
    read_mapped(
        device,
        buffer,
        Some(submission),
        as_uninit(bytemuck::cast_slice_mut(out)),
    )
    .map_err(|e| failed("reading back from the GPU", e))
}

/// Maps the first `out.len()` bytes of `buffer` once `after` has finished
/// (see [`map`]), copies them into `out`, and unmaps the buffer whatever
/// happened, so that a pooled one goes back ready for its next borrower.
fn read_mapped(
    device: &Device,
    buffer: &wgpu::Buffer,
    after: Option<wgpu::SubmissionIndex>,
    out: &mut [MaybeUninit<u8>],
) -> std::result::Result<(), String> {
    let read = map(device, buffer, out.len() as u64, wgpu::MapMode::Read, after)
        .and_then(|()| copy_out(buffer, out));
    buffer.unmap();
    read
}

/// Maps the first `len` bytes of `buffer` once `after` (the submission
/// that last used it, if known) has finished; a buffer still used by other
/// work is waited for as well.
fn map(
    device: &Device,
    buffer: &wgpu::Buffer,
    len: u64,
    mode: wgpu::MapMode,
    after: Option<wgpu::SubmissionIndex>,
) -> std::result::Result<(), String> {
    let (tx, rx) = mpsc::channel();
    buffer.slice(..len).map_async(mode, move |r| {
        let _ = tx.send(r);
    });
    let poll = |how| {
        device
            .device
            .poll(how)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    poll(match after {
        Some(submission) => wgpu::PollType::Wait {
            submission_index: Some(submission),
            timeout: None,
        },
        None => wgpu::PollType::Poll,
    })?;
    let mapped = match rx.try_recv() {
        Ok(r) => r,
        // Still in use by work submitted elsewhere: wait for all of it.
        Err(mpsc::TryRecvError::Empty) => {
            poll(wgpu::PollType::wait_indefinitely())?;
            rx.recv().map_err(|e| e.to_string())?
        }
        Err(e) => return Err(e.to_string()),
    };
    mapped.map_err(|e| e.to_string())
}

/// Copies `src` into mapped `buffer` from its start, in parallel pieces
/// unless [`on_this_thread`].
fn copy_in(buffer: &wgpu::Buffer, src: &[u8]) -> std::result::Result<(), String> {
    let piece_in = |k: usize, piece: &[u8]| {
        buffer
            .slice(piece_range(k, piece.len()))
            .get_mapped_range_mut()
            .map_err(|e| e.to_string())?
            .copy_from_slice(piece);
        Ok(())
    };
    if on_this_thread(src.len()) {
        return src
            .chunks(COPY_PIECE)
            .enumerate()
            .try_for_each(|(k, piece)| piece_in(k, piece));
    }
    src.par_chunks(COPY_PIECE)
        .enumerate()
        .try_for_each(|(k, piece)| piece_in(k, piece))
}

/// Copies mapped `buffer` from its start into `out`, in parallel pieces
/// unless [`on_this_thread`], writing every byte of `out`.
fn copy_out(buffer: &wgpu::Buffer, out: &mut [MaybeUninit<u8>]) -> std::result::Result<(), String> {
    let piece_out = |k: usize, piece: &mut [MaybeUninit<u8>]| {
        let view = buffer
            .slice(piece_range(k, piece.len()))
            .get_mapped_range()
            .map_err(|e| e.to_string())?;
        if view.len() != piece.len() {
            return Err(format!(
                "mapped {} bytes for a piece of {}",
                view.len(),
                piece.len()
            ));
        }
        // SAFETY: both are `piece.len()` bytes long, and the mapped range
        // does not overlap host memory the caller holds.
        unsafe {
            std::ptr::copy_nonoverlapping(view.as_ptr(), piece.as_mut_ptr().cast(), piece.len());
        }
        Ok(())
    };
    if on_this_thread(out.len()) {
        return out
            .chunks_mut(COPY_PIECE)
            .enumerate()
            .try_for_each(|(k, piece)| piece_out(k, piece));
    }
    out.par_chunks_mut(COPY_PIECE)
        .enumerate()
        .try_for_each(|(k, piece)| piece_out(k, piece))
}

/// Whether `len` bytes are copied on the calling thread: a single piece
/// (handing it to rayon's pool would cost more than the copy), or anything
/// inside [`with_serial_copies`].
fn on_this_thread(len: usize) -> bool {
    len <= COPY_PIECE || SERIAL_COPIES.with(Cell::get)
}

/// The bytes of a staging buffer that piece `k` of `len` bytes maps.
fn piece_range(k: usize, len: usize) -> std::ops::Range<u64> {
    let at = (k * COPY_PIECE) as u64;
    at..at + len as u64
}
