//! Recycled host memory for the values of large arrays on the host
//! backends (the GPU's counterpart is its buffer pool), and the values'
//! alignment.
//!
//! A fresh allocation of many megabytes comes from the operating system as
//! untouched pages, and the first write to each 4 KiB page is a page fault:
//! on a 16-core host a map into a new 256 MiB array took five times as long
//! as the same map into a vector already written. Arrays therefore take
//! their storage from [`HOST_POOL`] and give it back when they are dropped.
//! Vectors under [`MIN_LEN`] values are left to the allocator; at most
//! [`MAX_IDLE_BYTES`] are kept idle, the longest idle freed first.
//!
//! Large buffers the library allocates on the host (these, its outputs and
//! the CPU filters' images) ask Linux for 2 MiB pages
//! ([`prefer_huge_pages`]): one page fault where there were 512, and
//! hardware prefetchers that run on past each 4 KiB boundary.
//!
//! The values the pool hands out start on a cache line ([`HostValues`]):
//! the allocator aligns to 16 bytes, and the CPU kernels' vector loops are
//! faster on whole cache lines (a sum of 1024 misaligned values took about
//! 50 % longer), so two arrays of the same values no longer run at
//! speeds that depend on where the allocator put them.

use std::sync::{Mutex, MutexGuard};

/// Values below which a vector is not worth keeping (256 KiB).
const MIN_LEN: usize = 1 << 16;

/// Values in a cache line (64 bytes).
const LINE: usize = 64 / std::mem::size_of::<f32>();

/// An array's values on the host: a vector of padding and then the values,
/// which start on a 64-byte boundary when the pool made them (adopted
/// vectors keep the allocator's alignment). Derefs to the values.
#[derive(Default)]
pub(crate) struct HostValues {
    buf: Vec<f32>,
    start: usize,
}

impl HostValues {
    /// `values` as they are, without a copy.
    pub fn adopt(values: Vec<f32>) -> HostValues {
        HostValues {
            buf: values,
            start: 0,
        }
    }

    /// `len` values of `buf` (whose capacity holds them and a line of
    /// padding), placed on a cache line; new values are zero.
    fn aligned(mut buf: Vec<f32>, len: usize) -> HostValues {
        debug_assert!(buf.capacity() >= len + LINE - 1);
        let misaligned = buf.as_ptr() as usize % 64 / std::mem::size_of::<f32>();
        let start = (LINE - misaligned) % LINE;
        buf.truncate(start + len);
        buf.resize(start + len, 0.0);
        HostValues { buf, start }
    }

    /// Appends `values`.
    pub fn extend_from_slice(&mut self, values: &[f32]) {
        self.buf.extend_from_slice(values);
    }

    /// Appends `values`.
    pub fn extend(&mut self, values: impl IntoIterator<Item = f32>) {
        self.buf.extend(values);
    }
}

impl std::ops::Deref for HostValues {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf[self.start..]
    }
}

impl std::ops::DerefMut for HostValues {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buf[self.start..]
    }
}

/// `len` zeros, for an output the caller writes: large ones on pages not
/// touched yet, advised onto huge pages ([`prefer_huge_pages`]).
pub(crate) fn zeroed(len: usize) -> Vec<f32> {
    let v = vec![0.0; len];
    prefer_huge_pages(&v);
    v
}

/// Asks Linux to back the 2 MiB-aligned middle of `v`'s allocation (its
/// whole capacity), when it spans at least two such pages, with
/// transparent huge pages where its pages are not touched yet. A fresh 4K
/// image then takes a few dozen page faults instead of eight thousand,
/// which was half of a 5×5 box blur's time; on the 2-core development
/// machine a sum of 2^24 values in huge pages took 13 % less time, a map
/// 10 % less. Only advice: where transparent huge pages are off (or set to
/// `always`), nothing changes. `GPU_COMPUTE_HUGE_PAGES=0` turns it off, for
/// machines where the kernel's `defrag` setting makes such faults wait for
/// memory to be compacted.
pub(crate) fn prefer_huge_pages<T>(v: &Vec<T>) {
    #[cfg(target_os = "linux")]
    if huge_pages_wanted() {
        const HUGE: usize = 2 << 20;
        let bytes = v.capacity() * std::mem::size_of::<T>();
        if bytes < 2 * HUGE {
            return;
        }
        let start = v.as_ptr() as usize;
        let first = start.next_multiple_of(HUGE);
        let end = (start + bytes) / HUGE * HUGE;
        if end > first {
            // SAFETY: the range lies inside `v`'s allocation; MADV_HUGEPAGE
            // changes no contents, only how untouched pages will be backed.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

/// The variable that turns [`prefer_huge_pages`] off (`0`).
pub(crate) const HUGE_PAGES_ENV: &str = "GPU_COMPUTE_HUGE_PAGES";

/// Whether large buffers are advised onto huge pages: unless
/// [`HUGE_PAGES_ENV`] is `0` (read once per process).
fn huge_pages_wanted() -> bool {
    static WANTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WANTED.get_or_init(|| std::env::var(HUGE_PAGES_ENV).map_or(true, |v| v.trim() != "0"))
}

/// Whether the memory at `address` is in a mapping advised onto huge pages
/// (its `VmFlags` in `/proc/self/smaps` include `hg`); `None` where that
/// cannot be read (no such file, no mapping there). For tests.
pub fn advised_onto_huge_pages(address: usize) -> Option<bool> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    // A mapping's lines start with its address range, `from-to`.
    let range = |line: &str| -> Option<std::ops::Range<usize>> {
        let (from, to) = line.split_once(' ')?.0.split_once('-')?;
        Some(usize::from_str_radix(from, 16).ok()?..usize::from_str_radix(to, 16).ok()?)
    };
    let mut lines = smaps.lines();
    lines
        .by_ref()
        .find(|l| range(l).is_some_and(|r| r.contains(&address)))?;
    let flags = lines
        .take_while(|l| range(l).is_none())
        .find_map(|l| l.strip_prefix("VmFlags:"))?;
    Some(flags.split_whitespace().any(|f| f == "hg"))
}

/// Refuses `len` values (`f32`) that need more bytes than the memory and
/// swap this process may use (the machine's, within its cgroup's limits in
/// a container): such an array can never be held, and where Linux promises
/// memory freely (`vm.overcommit_memory=1`, or a container's limit, which
/// allocation does not see) the allocation would succeed and the process
/// be killed while filling it. Where the totals cannot be read, nothing is
/// refused here.
pub(crate) fn check_host_room(len: usize) -> Result<(), String> {
    let bytes = (len as u64).saturating_mul(4);
    match host_memory_bytes() {
        Some(total) if bytes > total => Err(format!(
            "{} of values is more than the {} of memory and swap this process may use",
            byte_size(bytes),
            byte_size(total)
        )),
        _ => Ok(()),
    }
}

/// The memory and swap this process may use, in bytes: the machine's
/// (`sysinfo`) within its cgroups' limits; `None` off Linux or where
/// `sysinfo` fails. Read once per process: each read walks the cgroup
/// files, which every small array loaded would otherwise pay for.
fn host_memory_bytes() -> Option<u64> {
    static TOTAL: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *TOTAL.get_or_init(read_host_memory_bytes)
}

fn read_host_memory_bytes() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `sysinfo` only fills in the zeroed struct it is given.
        let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
        if unsafe { libc::sysinfo(&mut info) } != 0 {
            return None;
        }
        let unit = u64::from(info.mem_unit.max(1));
        let memory = (info.totalram as u64).saturating_mul(unit);
        let swap = (info.totalswap as u64).saturating_mul(unit);
        let limits = std::fs::read_to_string("/proc/self/cgroup")
            .map(|own| CgroupLimits::under(std::path::Path::new("/sys/fs/cgroup"), &own))
            .unwrap_or_default();
        Some(limits.cap(memory, swap))
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// The tightest memory limits on a process's cgroups and the cgroups above
/// them, in bytes (`None`: none set or readable).
#[cfg(target_os = "linux")]
#[derive(Debug, Default, PartialEq)]
struct CgroupLimits {
    /// `memory.max` (v2), `memory.limit_in_bytes` (v1).
    memory: Option<u64>,
    /// `memory.swap.max` (v2).
    swap: Option<u64>,
    /// `memory.memsw.limit_in_bytes` (v1).
    memory_and_swap: Option<u64>,
}

#[cfg(target_os = "linux")]
impl CgroupLimits {
    /// The limits on the cgroups listed in `own` (as `/proc/self/cgroup`
    /// lists them: `id:controllers:path`, v2's with id 0 and no
    /// controllers), with the hierarchies mounted under `root` (v1's at
    /// `root/<controllers>`, else `root/memory`).
    fn under(root: &std::path::Path, own: &str) -> CgroupLimits {
        let mut limits = CgroupLimits::default();
        for line in own.lines() {
            let mut fields = line.splitn(3, ':');
            let (Some(id), Some(controllers), Some(path)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            // A cgroup outside this namespace's view: nothing to read.
            if path.split('/').any(|part| part == "..") {
                continue;
            }
            let tightest = |mount: &std::path::Path, file| tightest_limit(mount, path, file);
            if id == "0" && controllers.is_empty() {
                at_most(&mut limits.memory, tightest(root, "memory.max"));
                at_most(&mut limits.swap, tightest(root, "memory.swap.max"));
            } else if controllers.split(',').any(|c| c == "memory") {
                let joint = root.join(controllers);
                let mount = if joint.is_dir() {
                    joint
                } else {
                    root.join("memory")
                };
                at_most(
                    &mut limits.memory,
                    tightest(&mount, "memory.limit_in_bytes"),
                );
                at_most(
                    &mut limits.memory_and_swap,
                    tightest(&mount, "memory.memsw.limit_in_bytes"),
                );
            }
        }
        limits
    }

    /// `memory` and `swap` bytes within these limits, together.
    fn cap(&self, memory: u64, swap: u64) -> u64 {
        let memory = self.memory.map_or(memory, |limit| limit.min(memory));
        let swap = self.swap.map_or(swap, |limit| limit.min(swap));
        let total = memory.saturating_add(swap);
        self.memory_and_swap.map_or(total, |limit| limit.min(total))
    }
}

/// The smallest `file` holds, as a number of bytes, in the cgroup `path`
/// of the hierarchy mounted at `mount` and in the cgroups above it up to
/// the mount: a cgroup not there (seen from another namespace) still has
/// those above it. "max" and v1's huge "no limit" value are none.
#[cfg(target_os = "linux")]
fn tightest_limit(mount: &std::path::Path, path: &str, file: &str) -> Option<u64> {
    let mut dir = mount.join(path.trim_start_matches('/'));
    let mut tightest: Option<u64> = None;
    loop {
        let limit = std::fs::read_to_string(dir.join(file))
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .filter(|&limit| limit < 1 << 60);
        at_most(&mut tightest, limit);
        if dir == mount || !dir.pop() {
            return tightest;
        }
    }
}

/// Lowers `limit` to `other` where that is set and smaller.
#[cfg(target_os = "linux")]
fn at_most(limit: &mut Option<u64>, other: Option<u64>) {
    if let Some(other) = other {
        *limit = Some(limit.map_or(other, |l| l.min(other)));
    }
}

/// `bytes` for a message: `"2.0 TiB"`, `"512.0 MiB"`, `"12 bytes"`.
fn byte_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

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

    /// `len` values on a cache line, whose contents are unspecified (maybe
    /// left over from an earlier array): for outputs written whole.
    pub fn take(&self, len: usize) -> HostValues {
        let room = len + LINE - 1;
        match self.reuse(len, room) {
            Some(v) => HostValues::aligned(v, len),
            // Zeroed by the allocator (untouched pages stay unwritten until
            // used), and only shortened here.
            None => HostValues::aligned(zeroed(room), len),
        }
    }

    /// Room for `len` values on a cache line, none there yet: for values
    /// appended one piece after another (nothing is written first). An
    /// error, saying why, where the host cannot hold them
    /// ([`check_host_room`], or an allocation the system refuses), where
    /// `Vec` would abort the process.
    pub fn try_take_empty(&self, len: usize) -> Result<HostValues, String> {
        let room = len
            .checked_add(LINE - 1)
            .ok_or_else(|| "that is more than any host can hold".to_string())?;
        let buf = match self.reuse(len, room) {
            Some(v) => v,
            None => {
                check_host_room(room)?;
                let mut v = Vec::new();
                v.try_reserve_exact(room).map_err(|e| {
                    format!(
                        "allocating {} of host memory failed: {e}",
                        byte_size((room as u64).saturating_mul(4))
                    )
                })?;
                prefer_huge_pages(&v);
                v
            }
        };
        Ok(HostValues::aligned(buf, 0))
    }

    /// An idle vector for `len` values with `room` for them and the
    /// padding: the smallest that fits, but not one twice too large.
    fn reuse(&self, len: usize, room: usize) -> Option<Vec<f32>> {
        if len < MIN_LEN {
            return None;
        }
        let mut idle = self.idle();
        idle.iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= room && v.capacity() / 2 <= room)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i)
            .map(|i| idle.remove(i))
    }

    /// Keeps `values`' memory for a later [`HostPool::take`].
    pub fn give_back(&self, values: HostValues) {
        self.keep(values.buf);
    }

    fn keep(&self, values: Vec<f32>) {
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
        let big = HostValues::adopt(vec![0.0f32; 4 * MIN_LEN]);
        let big_at = big.buf.as_ptr();
        pool.give_back(big);
        let fresh = pool.take(MIN_LEN + 1);
        assert_eq!(fresh.as_ptr(), at, "the closer fit is taken");
        let fresh = pool.take(MIN_LEN + 1);
        assert_ne!(fresh.buf.as_ptr(), big_at);
        pool.give_back(HostValues::adopt(vec![1.0; 10]));
        assert_eq!(pool.idle().len(), 1);
    }

    #[test]
    fn the_longest_idle_are_freed_first() {
        let pool = HostPool::new(3 * (MIN_LEN + LINE) * 4);
        let first = pool.take(MIN_LEN);
        let first_at = first.buf.as_ptr();
        pool.give_back(first);
        for _ in 0..3 {
            pool.give_back(HostValues::adopt(vec![0.0; MIN_LEN + LINE]));
        }
        let idle = pool.idle();
        assert_eq!(idle.len(), 3);
        assert!(idle.iter().all(|v| v.as_ptr() != first_at));
    }

    /// A large output is advised onto huge pages: Linux then flags the
    /// mapping that holds its aligned middle `hg` (`MADV_HUGEPAGE`), whether
    /// transparent huge pages are set to `madvise`, `always` or `never`.
    #[cfg(target_os = "linux")]
    #[test]
    fn large_outputs_are_advised_onto_huge_pages() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            eprintln!("note: this kernel has no transparent huge pages; nothing to check");
            return;
        }
        let v = zeroed(4 << 20);
        let inside = (v.as_ptr() as usize).next_multiple_of(2 << 20);
        let advised = advised_onto_huge_pages(inside)
            .unwrap_or_else(|| panic!("no VmFlags for the mapping at {inside:#x}"));
        // The test binary runs without GPU_COMPUTE_HUGE_PAGES=0 (tests/api.rs
        // checks that one in a child process).
        assert!(advised, "the mapping at {inside:#x} is not advised");
        drop(v);
    }

    /// Values the pool hands out start on a cache line, fresh or reused,
    /// small or large, and values appended to an empty start stay there.
    #[test]
    fn values_start_on_a_cache_line() {
        let pool = HostPool::new(1 << 30);
        for len in [0, 1, 17, 1000, MIN_LEN, MIN_LEN + 5] {
            let mut v = pool.take(len);
            assert_eq!((v.len(), v.as_ptr() as usize % 64), (len, 0), "{len}");
            v.fill(2.0);
            pool.give_back(v);
        }
        let reused = pool.take(MIN_LEN + 2);
        assert_eq!(reused.as_ptr() as usize % 64, 0);
        pool.give_back(reused);
        for len in [3, MIN_LEN + 2] {
            let mut empty = pool.try_take_empty(len).unwrap();
            assert_eq!((empty.len(), empty.as_ptr() as usize % 64), (0, 0));
            let at = empty.buf.as_ptr();
            empty.extend(std::iter::repeat_n(1.0, len));
            assert_eq!(
                (empty.len(), empty.buf.as_ptr()),
                (len, at),
                "no reallocation"
            );
            assert_eq!(empty.as_ptr() as usize % 64, 0);
        }
        let adopted = HostValues::adopt(vec![1.0, 2.0]);
        assert_eq!(&*adopted, &[1.0, 2.0]);
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn more_values_than_the_host_holds_are_an_error_not_an_abort() {
        let pool = HostPool::new(1 << 30);
        // 2^47 values are 512 TiB: past any host's memory and past a 47-bit
        // address space, so refused whether or not Linux overcommits.
        let why = pool.try_take_empty(1 << 47).err().expect("512 TiB refused");
        assert!(
            why.contains("512.0 TiB"),
            "the message names the size: {why}"
        );
        let why = pool.try_take_empty(usize::MAX).err().expect("refused");
        assert!(why.contains("more than any host can hold"), "{why}");
        // An ordinary size still works, and starts empty on a cache line.
        let v = pool.try_take_empty(MIN_LEN).expect("256 KiB");
        assert_eq!((v.len(), v.as_ptr() as usize % 64), (0, 0));
    }

    #[test]
    fn byte_sizes_read_in_binary_units() {
        assert_eq!(byte_size(12), "12 bytes");
        assert_eq!(byte_size(1536), "1.5 KiB");
        assert_eq!(byte_size(512 << 20), "512.0 MiB");
        assert_eq!(byte_size(2 << 40), "2.0 TiB");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_tightest_cgroup_limits_above_the_process_count() {
        let root = std::env::temp_dir().join(format!("gpu-compute-cgroup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let put = |dir: &str, file: &str, text: &str| {
            let dir = root.join(dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(file), text).unwrap();
        };
        let limits = |own: &str| CgroupLimits::under(&root, own);
        const GIB: u64 = 1 << 30;
        // v2: the process's own cgroup says "max"; its parent limits it,
        // and allows no swap.
        put("app", "memory.max", "4294967296\n");
        put("app/worker", "memory.max", "max\n");
        put("app", "memory.swap.max", "0\n");
        let v2 = limits("0::/app/worker\n");
        assert_eq!((v2.memory, v2.swap), (Some(4 * GIB), Some(0)));
        // 64 GiB and 64 GiB of swap on the machine: 4 GiB for the process.
        assert_eq!(v2.cap(64 * GIB, 64 * GIB), 4 * GIB);
        // The namespace's root cgroup, and a path with a colon.
        put("", "memory.max", "8589934592\n");
        assert_eq!(limits("0::/\n").memory, Some(8 * GIB));
        put("a:b/c", "memory.max", "1073741824\n");
        assert_eq!(limits("0::/a:b/c\n").memory, Some(GIB));
        // A path outside the namespace's view is not followed.
        assert_eq!(limits("0::/../app\n"), CgroupLimits::default());
        // v1: its "no limit" value is none; memory and swap together.
        put("memory", "memory.limit_in_bytes", "9223372036854771712\n");
        put("memory/box", "memory.limit_in_bytes", "2147483648\n");
        put("memory/box", "memory.memsw.limit_in_bytes", "3221225472\n");
        let v1 = limits("4:memory:/box\n");
        assert_eq!(
            (v1.memory, v1.memory_and_swap),
            (Some(2 * GIB), Some(3 * GIB))
        );
        assert_eq!(v1.cap(64 * GIB, 64 * GIB), 3 * GIB);
        // A cgroup whose folder is not there (another namespace's path)
        // has only the limits above it, here v1's "none".
        assert_eq!(limits("4:memory:/gone/x\n"), CgroupLimits::default());
        // v1's memory controller mounted with another.
        put("cpuset,memory/job", "memory.limit_in_bytes", "1073741824\n");
        assert_eq!(limits("3:cpuset,memory:/job\n").memory, Some(GIB));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
