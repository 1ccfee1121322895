//! Recycled host memory for the values of large arrays on the host
//! backends (the GPU's counterpart is its buffer pool).
//!
//! A fresh allocation of many megabytes comes from the operating system as
//! untouched pages, and the first write to each 4 KiB page is a page fault:
//! on a 16-core host a map into a new 256 MiB array took five times as long
//! as the same map into a vector already written. Arrays therefore take
//! their storage from [`HOST_POOL`] and give it back when they are dropped.
//! Vectors under [`MIN_LEN`] values are left to the allocator; at most
//! [`MAX_IDLE_BYTES`] are kept idle, the longest idle freed first.

use std::sync::{Mutex, MutexGuard};

/// Values below which a vector is not worth keeping (256 KiB).
const MIN_LEN: usize = 1 << 16;

/// Idle bytes [`HOST_POOL`] keeps for reuse.
const MAX_IDLE_BYTES: usize = 1 << 30;

/// The pool host arrays take their storage from.
pub(crate) static HOST_POOL: HostPool = HostPool::new(MAX_IDLE_BYTES);

/// Idle vectors, longest idle first, at most `max_idle_bytes` of them.
pub(crate) struct HostPool {
    idle: Mutex<Vec<Vec<f32>>>,
    max_idle_bytes: usize,
}

fn bytes(v: &Vec<f32>) -> usize {
    v.capacity() * std::mem::size_of::<f32>()
}

impl HostPool {
    const fn new(max_idle_bytes: usize) -> HostPool {
        HostPool {
            idle: Mutex::new(Vec::new()),
            max_idle_bytes,
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Vec<f32>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A vector of `len` values whose contents are unspecified (finite, but
    /// maybe left over from an earlier array): for outputs written whole.
    pub fn take(&self, len: usize) -> Vec<f32> {
        if len >= MIN_LEN {
            let reused = {
                let mut idle = self.idle();
                // The smallest idle vector that fits, but not one twice too large.
                idle.iter()
                    .enumerate()
                    .filter(|(_, v)| v.capacity() >= len && v.capacity() / 2 <= len)
                    .min_by_key(|(_, v)| v.capacity())
                    .map(|(i, _)| i)
                    .map(|i| idle.remove(i))
            };
            if let Some(mut v) = reused {
                v.resize(len, 0.0);
                return v;
            }
        }
        vec![0.0; len]
    }

    /// Keeps `values`' memory for a later [`HostPool::take`].
    pub fn give_back(&self, values: Vec<f32>) {
        if values.capacity() < MIN_LEN || bytes(&values) > self.max_idle_bytes {
            return;
        }
        let mut idle = self.idle();
        idle.push(values);
        let mut held: usize = idle.iter().map(bytes).sum();
        while held > self.max_idle_bytes {
            held -= bytes(&idle.remove(0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_vectors_are_reused_small_ones_are_not() {
        let pool = HostPool::new(1 << 30);
        let mut v = pool.take(MIN_LEN + 3);
        assert_eq!(v.len(), MIN_LEN + 3);
        v[0] = 7.0;
        let at = v.as_ptr();
        pool.give_back(v);
        let again = pool.take(MIN_LEN + 1);
        assert_eq!((again.len(), again.as_ptr()), (MIN_LEN + 1, at));
        pool.give_back(again);
        // A vector more than twice too large stays idle; so do small ones.
        let big = vec![0.0f32; 4 * MIN_LEN];
        let big_at = big.as_ptr();
        pool.give_back(big);
        let fresh = pool.take(MIN_LEN + 1);
        assert_eq!(fresh.as_ptr(), at, "the closer fit is taken");
        let fresh = pool.take(MIN_LEN + 1);
        assert_ne!(fresh.as_ptr(), big_at);
        pool.give_back(vec![1.0; 10]);
        assert_eq!(pool.idle().len(), 1);
    }

    #[test]
    fn the_longest_idle_are_freed_first() {
        let pool = HostPool::new(3 * MIN_LEN * 4);
        let first = pool.take(MIN_LEN);
        let first_at = first.as_ptr();
        pool.give_back(first);
        for _ in 0..3 {
            pool.give_back(vec![0.0; MIN_LEN]);
        }
        let idle = pool.idle();
        assert_eq!(idle.len(), 3);
        assert!(idle.iter().all(|v| v.as_ptr() != first_at));
    }
}
