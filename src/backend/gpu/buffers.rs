//! A pool of device buffers reused between calls.
//!
//! Creating a buffer costs a driver allocation; a loop of maps would pay it
//! several times per call. Buffers are handed out rounded up to a power of
//! two (so sizes that differ a little share buffers) and come back to the
//! pool when their [`Pooled`] handle drops. The pool keeps at most
//! [`MAX_IDLE_BYTES`] of idle buffers; beyond that the longest idle are
//! freed, so that a loop over large arrays keeps reusing its own buffers
//! (a new buffer also costs wgpu a clear before its first use).

use super::device::scoped;
use crate::error::{Error, Result};
use std::ops::Deref;
use std::sync::Mutex;

/// Idle bytes the pool keeps for reuse: room for the output of a map over
/// a 2^28-element array (1 GiB) besides the buffers of host-mode calls.
const MAX_IDLE_BYTES: u64 = 2 << 30;

/// Smallest buffer the pool hands out.
const MIN_SIZE: u64 = 256;

/// The pool every GPU call borrows its buffers from.
pub(crate) static POOL: BufferPool = BufferPool::new();

/// An idle buffer: its usage, the buffer, and the last submission known to
/// use it.
type Idle = (
    wgpu::BufferUsages,
    wgpu::Buffer,
    Option<wgpu::SubmissionIndex>,
);

/// Idle buffers with their usages, longest idle first.
pub(crate) struct BufferPool {
    idle: Mutex<Vec<Idle>>,
}

/// A buffer on loan from a [`BufferPool`]; returned when dropped.
pub(crate) struct Pooled<'a> {
    pool: &'a BufferPool,
    usage: wgpu::BufferUsages,
    buffer: Option<wgpu::Buffer>,
    /// The last submission known to use the buffer, kept with it in the
    /// pool, so that the next borrower who maps it can wait for exactly
    /// that submission (set by the staging ring; `None` when unknown).
    pub last_use: Option<wgpu::SubmissionIndex>,
}

impl BufferPool {
    pub const fn new() -> BufferPool {
        BufferPool {
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A buffer of at least `size` bytes with exactly `usage`: an idle one,
    /// or a new one. When the device cannot make one, the idle buffers are
    /// freed and it is tried once more; a buffer the device failed to make
    /// is an error, and never enters the pool.
    pub fn acquire<'a>(
        &'a self,
        device: &wgpu::Device,
        size: u64,
        usage: wgpu::BufferUsages,
        max_size: u64,
    ) -> Result<Pooled<'a>> {
        let rounded = size.max(MIN_SIZE).next_power_of_two();
        let rounded = if rounded > max_size {
            size.max(MIN_SIZE)
        } else {
            rounded
        };
        let reused = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            // The smallest idle buffer that fits, but not one wastefully large.
            let best = idle
                .iter()
                .enumerate()
                .filter(|(_, (u, b, _))| {
                    *u == usage && b.size() >= size && b.size() <= rounded.max(size) * 2
                })
                .min_by_key(|(_, (_, b, _))| b.size())
                .map(|(i, _)| i);
            best.map(|i| {
                let (_, buffer, last_use) = idle.remove(i);
                (buffer, last_use)
            })
        };
        let (buffer, last_use) = match reused {
            Some(found) => found,
            None => {
                let made = create(device, rounded, usage).or_else(|_| {
                    self.release_idle();
                    create(device, rounded, usage)
                });
                (made?, None)
            }
        };
        Ok(Pooled {
            pool: self,
            usage,
            buffer: Some(buffer),
            last_use,
        })
    }

    /// Bytes of idle buffers held.
    #[cfg(test)]
    pub fn idle_bytes(&self) -> u64 {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.iter().map(|(_, b, _)| b.size()).sum()
    }

    /// Frees every idle buffer (their device memory with them): for an
    /// allocation the device refused while the pool held memory.
    pub fn release_idle(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        drop(idle);
    }

    fn give_back(
        &self,
        usage: wgpu::BufferUsages,
        buffer: wgpu::Buffer,
        last_use: Option<wgpu::SubmissionIndex>,
    ) {
        if buffer.size() > MAX_IDLE_BYTES {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.push((usage, buffer, last_use));
        let mut held: u64 = idle.iter().map(|(_, b, _)| b.size()).sum();
        while held > MAX_IDLE_BYTES {
            // Freed (the device memory with it) when dropped here.
            held -= idle.remove(0).1.size();
        }
    }
}

/// A new buffer of `size` bytes, or the error the device reported making it.
fn create(device: &wgpu::Device, size: u64, usage: wgpu::BufferUsages) -> Result<wgpu::Buffer> {
    let (buffer, error) = scoped(device, || {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("gpu-compute pooled"),
            size,
            usage,
            mapped_at_creation: false,
        })
    });
    match error {
        None => Ok(buffer),
        Some(e) => Err(Error::Gpu {
            what: format!("allocating {size} bytes on the GPU"),
            reason: e.to_string(),
        }),
    }
}

impl Deref for Pooled<'_> {
    type Target = wgpu::Buffer;
    fn deref(&self) -> &wgpu::Buffer {
        self.buffer.as_ref().expect("present until drop")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(b) = self.buffer.take() {
            self.pool.give_back(self.usage, b, self.last_use.take());
        }
    }
}
