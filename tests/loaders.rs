//! `gpu::io::Loader` and `gpu::io::Batch`: many files, good and bad, loaded
//! and processed concurrently; every input yields exactly one outcome.

use crate::support::context;
use futures_util::StreamExt;
use gpu::filter::Filter;
use gpu::io::{Batch, Format, Item, Job, Loaded, Loader};
use gpu::{Backend, Context, Kernel};
use image::RgbaImage;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

/// A fresh, empty folder for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gpu-compute-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

fn raw(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A `.npy` file as NumPy writes it (version 1.0, header padded to 64).
fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut text = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + text.len() + 1) % 64 != 0 {
        text.push(' ');
    }
    text.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(data);
    out
}

fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 31 + seed * 7) % 97) as f32 - 48.5)
        .collect()
}

fn picture(w: u32, h: u32, seed: u32) -> RgbaImage {
    RgbaImage::from_fn(w, h, |x, y| {
        image::Rgba([(x * 3 + seed) as u8, (y * 5) as u8, (x ^ y) as u8, 255])
    })
}

/// What a file should load as.
enum Expect {
    Values(Vec<f32>, Vec<usize>),
    Image(RgbaImage),
    Error(&'static str),
}

/// Writes a mix of good and bad files into `dir`.
fn mixed_files(dir: &Path) -> Vec<(PathBuf, Expect)> {
    let mut files = Vec::new();
    let mut add = |name: &str, bytes: &[u8], expect: Expect| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        files.push((path, expect));
    };
    for i in 0..24 {
        let v = values(1 + i * 37, i);
        add(
            &format!("raw{i}.f32"),
            &raw(&v),
            Expect::Values(v.clone(), vec![v.len()]),
        );
        let shape = format!("({}, 1)", v.len());
        add(
            &format!("arr{i}.npy"),
            &npy("<f4", &shape, &raw(&v)),
            Expect::Values(v.clone(), vec![v.len(), 1]),
        );
    }
    // Conversions, one per element type family.
    let f8: Vec<u8> = [1.5f64, -1e40, 3.25]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    add(
        "f8.npy",
        &npy("<f8", "(3,)", &f8),
        Expect::Values(vec![1.5, f32::NEG_INFINITY, 3.25], vec![3]),
    );
    let be: Vec<u8> = [2.5f32, -4.0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    add(
        "big_endian.npy",
        &npy(">f4", "(2,)", &be),
        Expect::Values(vec![2.5, -4.0], vec![2]),
    );
    let i2: Vec<u8> = [-300i16, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
    add(
        "i2.npy",
        &npy("<i2", "(2,)", &i2),
        Expect::Values(vec![-300.0, 7.0], vec![2]),
    );
    let i8: Vec<u8> = [16_777_217i64]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    add(
        "i8.npy",
        &npy("<i8", "(1,)", &i8),
        Expect::Values(vec![16_777_216.0], vec![1]),
    );
    add(
        "u1.npy",
        &npy("|u1", "(2, 2)", &[0, 1, 200, 255]),
        Expect::Values(vec![0.0, 1.0, 200.0, 255.0], vec![2, 2]),
    );
    add(
        "bool.npy",
        &npy("|b1", "(3,)", &[1, 0, 1]),
        Expect::Values(vec![1.0, 0.0, 1.0], vec![3]),
    );
    // Images.
    let img = picture(13, 7, 1);
    let png = dir.join("pic.png");
    gpu::io::save_image(&img, &png).unwrap();
    add("pic.png", &std::fs::read(&png).unwrap(), Expect::Image(img));
    // Bad files.
    add("empty.f32", &[], Expect::Error("the file is empty"));
    add(
        "short.f32",
        &[1, 2, 3, 4, 5, 6],
        Expect::Error("6 bytes is not a whole number"),
    );
    add(
        "short.npy",
        &npy("<f4", "(100,)", &raw(&[1.0; 50])),
        Expect::Error("truncated"),
    );
    add(
        "huge.npy",
        &npy("<f4", "(1000000000000,)", &[]),
        Expect::Error("truncated: the header says 1000000000000 values"),
    );
    add(
        "overflow.npy",
        &npy("<f4", "(4294967296, 4294967296)", &[]),
        Expect::Error("is too large"),
    );
    add(
        "long.npy",
        &npy("<f4", "(2,)", &raw(&[1.0; 3])),
        Expect::Error("trailing data"),
    );
    add(
        "complex.npy",
        &npy("<c8", "(2,)", &[0; 16]),
        Expect::Error("unsupported dtype \"<c8\""),
    );
    let fortran = npy("<f4", "(2,)", &raw(&[1.0; 2]));
    let mut fortran = fortran;
    let at = fortran.windows(5).position(|w| w == b"False").unwrap();
    fortran[at..at + 5].copy_from_slice(b"True ");
    add(
        "fortran_order.npy",
        &fortran,
        Expect::Error("Fortran-order"),
    );
    add(
        "header.npy",
        b"\x93NUMPY\x01\x00\xff",
        Expect::Error("truncated .npy header"),
    );
    add(
        "corrupt.png",
        b"\x89PNG\r\n\x1a\nthis is not a png at all",
        Expect::Error("corrupt.png"),
    );
    add("notes.txt", b"hello", Expect::Error("unknown format"));
    files.push((dir.join("missing.npy"), Expect::Error("No such file")));
    std::fs::create_dir_all(dir.join("folder.f32")).unwrap();
    files.push((dir.join("folder.f32"), Expect::Error("is a directory")));
    files
}

fn check(loaded: Vec<Loaded>, files: &[(PathBuf, Expect)], backend: Backend) {
    assert_eq!(loaded.len(), files.len(), "one outcome per input");
    let mut seen = vec![false; files.len()];
    for item in loaded {
        assert!(!seen[item.index], "input {} reported twice", item.index);
        seen[item.index] = true;
        let (path, expect) = &files[item.index];
        assert_eq!(item.name, path.display().to_string());
        match (expect, item.result) {
            (
                Expect::Values(want, shape),
                Ok(Item::Values {
                    array,
                    shape: got_shape,
                    ..
                }),
            ) => {
                assert_eq!(array.backend(), backend, "{}", item.name);
                assert_eq!(&got_shape, shape, "{}", item.name);
                assert_eq!(&array.to_vec().unwrap(), want, "{}", item.name);
            }
            (Expect::Image(want), Ok(Item::Image(got))) => {
                assert_eq!(got.backend(), backend, "{}", item.name);
                assert_eq!(&got.to_rgba().unwrap(), want, "{}", item.name)
            }
            (Expect::Error(what), Err(e)) => {
                let msg = e.to_string();
                assert!(msg.contains(&item.name), "the error names the file: {msg}");
                assert!(
                    msg.contains(what),
                    "{}: expected {what:?} in {msg:?}",
                    item.name
                );
            }
            (_, Ok(_)) => panic!("{}: loaded, but expected something else", item.name),
            (_, Err(e)) => panic!("{}: unexpected error {e}", item.name),
        }
    }
}

fn loads_mixed_good_and_bad_files(backend: Backend, test: &str) {
    if context(backend, test).is_none() {
        return;
    }
    let dir = scratch(test);
    let files = mixed_files(&dir);
    let loader = Loader::new(backend).unwrap().concurrency(4);
    let loaded: Vec<Loaded> = runtime().block_on(
        loader
            .load_paths(files.iter().map(|f| f.0.clone()))
            .collect(),
    );
    check(loaded, &files, backend_of(backend));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Where arrays land for `backend`.
fn backend_of(backend: Backend) -> Backend {
    match backend {
        Backend::Auto => Context::new(Backend::Auto)
            .unwrap()
            .array(&[])
            .unwrap()
            .backend(),
        b => b,
    }
}

#[test]
fn cpu_loads_mixed_good_and_bad_files() {
    loads_mixed_good_and_bad_files(Backend::Cpu, "loaders-cpu");
}

#[test]
fn gpu_loads_mixed_good_and_bad_files_into_device_buffers() {
    loads_mixed_good_and_bad_files(Backend::Gpu, "loaders-gpu");
}

#[test]
fn permission_denied_names_the_file() {
    let dir = scratch("loaders-permission");
    let locked = dir.join("locked.f32");
    std::fs::write(&locked, raw(&[1.0, 2.0])).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    // Root reads files whatever their mode bits; this kernel file refuses
    // reading even to root, so the case is covered either way.
    let proc_file = PathBuf::from("/proc/sys/vm/drop_caches");
    let loader = Loader::new(Backend::Cpu).unwrap().format(Format::RawF32);
    let loaded: Vec<Loaded> = runtime().block_on(
        loader
            .load_paths([locked.clone(), proc_file.clone()])
            .collect(),
    );
    let mut denied = 0;
    for item in &loaded {
        if let Err(e) = &item.result {
            let msg = e.to_string();
            assert!(
                msg.contains(&item.name) && msg.contains("ermission denied"),
                "{msg}"
            );
            denied += 1;
        }
    }
    let is_root = std::fs::read(&locked).is_ok();
    if !is_root {
        assert!(loaded
            .iter()
            .any(|l| l.name.ends_with("locked.f32") && l.result.is_err()));
    }
    if cfg!(target_os = "linux") {
        assert!(denied >= 1, "no source was refused: {loaded:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The machine's memory and swap together: the larger of what
/// `/proc/meminfo` and `sysinfo` say (a container may show either its own
/// or the host's).
#[cfg(target_os = "linux")]
fn memory_and_swap_bytes() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").expect("/proc/meminfo");
    let kib = |key: &str| -> u64 {
        let line = info
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{key} in /proc/meminfo"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    // SAFETY: `sysinfo` only fills in the zeroed struct it is given.
    let mut sys: libc::sysinfo = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::sysinfo(&mut sys) }, 0, "sysinfo");
    let unit = u64::from(sys.mem_unit.max(1));
    let from_sysinfo = (sys.totalram as u64 + sys.totalswap as u64) * unit;
    ((kib("MemTotal:") + kib("SwapTotal:")) * 1024).max(from_sysinfo)
}

/// A raw array file longer than the machine's memory and swap (sparse, so
/// it takes no disk) is an error naming the file and its size, not an
/// aborted process; the small file beside it loads. Needs a temporary
/// folder whose filesystem holds sparse files of twice that size (ext4: up
/// to 16 TiB) and a `ulimit -f` that allows it: else it fails, saying so,
/// before making the file.
#[cfg(target_os = "linux")]
#[test]
fn an_array_larger_than_the_host_is_an_error_not_an_abort() {
    let dir = scratch("loaders-huge");
    let huge = dir.join("huge.f32");
    let bytes = (memory_and_swap_bytes() * 2).next_multiple_of(4);
    // Past `ulimit -f`, making the file would kill the test binary.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` only fills in the struct it is given.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit) },
        0
    );
    assert!(
        limit.rlim_cur == libc::RLIM_INFINITY || limit.rlim_cur >= bytes,
        "this test makes a sparse file of {bytes} bytes; `ulimit -f` allows {} bytes",
        limit.rlim_cur
    );
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(bytes)
        .unwrap_or_else(|e| panic!("a sparse file of {bytes} bytes in {dir:?}: {e}"));
    drop(file);
    let small = dir.join("small.f32");
    std::fs::write(&small, raw(&[1.0, 2.0])).unwrap();
    let loader = Loader::new(Backend::Cpu).unwrap();
    let mut loaded: Vec<Loaded> =
        runtime().block_on(loader.load_paths([huge.clone(), small.clone()]).collect());
    loaded.sort_by_key(|l| l.index);
    let msg = loaded[0].result.as_ref().expect_err("refused").to_string();
    assert!(
        msg.contains("huge.f32")
            && msg.contains(&format!("{} values", bytes / 4))
            && msg.contains("memory and swap"),
        "{msg}"
    );
    match &loaded[1].result {
        Ok(Item::Values { array, .. }) => assert_eq!(array.to_vec().unwrap(), [1.0, 2.0]),
        other => panic!("small.f32: {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An `AsyncRead` that hands out its bytes a few at a time, counting how
/// many such readers are being read at once.
struct Trickle {
    bytes: Vec<u8>,
    at: usize,
    counters: Counters,
    started: bool,
    stall: bool,
    finished: bool,
}

/// What the `Trickle` readers of one test count together.
#[derive(Clone, Default)]
struct Counters {
    /// Readers being read now.
    active: Arc<AtomicUsize>,
    /// The most read at once.
    peak: Arc<AtomicUsize>,
    /// Readers ever read.
    started: Arc<AtomicUsize>,
}

impl Trickle {
    fn new(bytes: Vec<u8>, counters: &Counters) -> Trickle {
        Trickle {
            bytes,
            at: 0,
            counters: counters.clone(),
            started: false,
            stall: false,
            finished: false,
        }
    }
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.started {
            self.started = true;
            self.counters.started.fetch_add(1, Ordering::SeqCst);
            let now = self.counters.active.fetch_add(1, Ordering::SeqCst) + 1;
            self.counters.peak.fetch_max(now, Ordering::SeqCst);
        }
        // Every other poll is "not ready yet", like a socket.
        self.stall = !self.stall;
        if self.stall {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let n = 7.min(self.bytes.len() - self.at).min(buf.remaining());
        let at = self.at;
        buf.put_slice(&self.bytes[at..at + n]);
        self.at += n;
        if n == 0 && !self.finished {
            // Readers may ask again after the end; count the end once.
            self.finished = true;
            self.counters.active.fetch_sub(1, Ordering::SeqCst);
        }
        Poll::Ready(Ok(()))
    }
}

#[test]
fn readers_stream_like_files_with_bounded_concurrency() {
    let counters = Counters::default();
    let sources: Vec<(String, Trickle)> = (0..12)
        .map(|i| {
            let v = values(10 + i, i);
            let bytes = if i % 2 == 0 {
                npy("<f4", &format!("({},)", v.len()), &raw(&v))
            } else {
                raw(&v)
            };
            let name = if i % 2 == 0 {
                format!("socket{i}")
            } else {
                format!("body{i}.f32")
            };
            (name, Trickle::new(bytes, &counters))
        })
        .collect();
    let loader = Loader::new(Backend::Cpu).unwrap().concurrency(3);
    let loaded: Vec<Loaded> = runtime().block_on(loader.load_readers(sources).collect());
    assert_eq!(loaded.len(), 12);
    for item in loaded {
        let Ok(Item::Values { array, .. }) = item.result else {
            panic!("{}: {:?}", item.name, item.result)
        };
        assert_eq!(
            array.to_vec().unwrap(),
            values(10 + item.index, item.index),
            "{}",
            item.name
        );
    }
    let peak = counters.peak.load(Ordering::SeqCst);
    assert!(
        (1..=3).contains(&peak),
        "at most 3 sources in flight, saw {peak}"
    );
}

#[test]
fn a_network_like_pipe_streams_an_npy() {
    let v = values(5000, 3);
    let bytes = npy("<f4", "(50, 100)", &raw(&v));
    let rt = runtime();
    let (mut tx, rx) = tokio::io::duplex(256);
    rt.spawn(async move {
        for piece in bytes.chunks(1000) {
            tx.write_all(piece).await.unwrap();
        }
    });
    let loader = Loader::new(Backend::Cpu).unwrap();
    let got = rt
        .block_on(loader.load_readers([("pipe", rx)]).next())
        .unwrap();
    let Ok(Item::Values { array, shape, .. }) = got.result else {
        panic!("{:?}", got.result)
    };
    assert_eq!(shape, vec![50, 100]);
    assert_eq!(array.to_vec().unwrap(), v);
}

/// A stream of unknown length whose `.npy` header promises more values
/// than the process may hold is refused from its header, before its data
/// is gathered.
#[test]
fn a_stream_promising_more_than_the_host_holds_is_refused_from_its_header() {
    let bytes = npy("<f4", "(1099511627776,)", &raw(&[1.0, 2.0]));
    let loader = Loader::new(Backend::Cpu).unwrap();
    let got = runtime()
        .block_on(
            loader
                .load_readers([("socket", std::io::Cursor::new(bytes))])
                .next(),
        )
        .unwrap();
    let msg = got.result.expect_err("refused").to_string();
    assert!(
        msg.contains("socket") && msg.contains("cannot hold its 1099511627776 values"),
        "{msg}"
    );
}

/// Readers need no tokio runtime: a GPU loader's steps that go to tokio's
/// blocking pool under tokio (an image's upload) run on the polling
/// thread under another executor.
#[test]
fn readers_load_onto_the_gpu_without_a_tokio_runtime() {
    let test = "loaders::readers_load_onto_the_gpu_without_a_tokio_runtime";
    if context(Backend::Gpu, test).is_none() {
        return;
    }
    let pic = picture(64, 48, 5);
    let mut png = Vec::new();
    pic.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let v = values(300, 1);
    let loader = Loader::new(Backend::Gpu).unwrap();
    let sources = [
        ("pic.png", std::io::Cursor::new(png)),
        ("v.f32", std::io::Cursor::new(raw(&v))),
    ];
    let mut loaded: Vec<Loaded> = pollster::block_on(loader.load_readers(sources).collect());
    loaded.sort_by_key(|l| l.index);
    match &loaded[0].result {
        Ok(Item::Image(img)) => {
            assert_eq!(img.backend(), Backend::Gpu);
            assert_eq!(img.to_rgba().unwrap(), pic);
        }
        other => panic!("pic.png: {other:?}"),
    }
    match &loaded[1].result {
        Ok(Item::Values { array, .. }) => assert_eq!(array.to_vec().unwrap(), v),
        other => panic!("v.f32: {other:?}"),
    }
}

fn write_pictures(dir: &Path, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let path = dir.join(format!("img{i:03}.png"));
            gpu::io::save_image(&picture(40 + i as u32, 30, i as u32), &path).unwrap();
            path
        })
        .collect()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn batch_reports_failures_and_the_others_finish() {
    let dir = scratch("batch-failures");
    let mut inputs = write_pictures(&dir, 10);
    std::fs::write(dir.join("bad.png"), b"\x89PNG\r\n\x1a\ngarbage").unwrap();
    inputs.insert(3, dir.join("bad.png"));
    inputs.insert(7, dir.join("gone.png"));
    let chain = Filter::parse_chain("box:1,invert").unwrap();
    let out = dir.join("out");
    let rt = runtime();
    for sequential in [false, true] {
        let batch = Batch::new(Job::Filters(chain.clone()), &out)
            .backend(Backend::Cpu)
            .concurrency(4);
        let mut reports = 0;
        let count = |_: &gpu::io::FileReport| reports += 1;
        let summary = if sequential {
            rt.block_on(batch.run_sequential(inputs.clone(), count))
        } else {
            rt.block_on(batch.run(inputs.clone(), count))
        }
        .unwrap();
        assert_eq!(reports, 12);
        assert_eq!(summary.succeeded, 10, "{summary}");
        // Each stage's busy time is part of its time, and every stage did work.
        let s = summary.stages;
        for (busy, all) in [
            (s.read_busy, s.read),
            (s.compute_busy, s.compute),
            (s.write_busy, s.write),
        ] {
            assert!(busy > Duration::ZERO && busy <= all, "{s:?}");
        }
        let mut failed: Vec<String> = summary
            .failed
            .iter()
            .map(|(p, e)| format!("{} {e}", p.display()))
            .collect();
        failed.sort();
        assert_eq!(failed.len(), 2);
        assert!(failed[0].contains("bad.png"), "{failed:?}");
        assert!(failed[1].contains("gone.png"), "{failed:?}");
        let cpu = Context::new(Backend::Cpu).unwrap();
        for input in inputs
            .iter()
            .filter(|p| p.exists() && !p.ends_with("bad.png"))
        {
            let want = cpu
                .filter_chain(&gpu::io::load_image(input).unwrap(), &chain)
                .unwrap();
            let got = gpu::io::load_image(out.join(input.file_name().unwrap())).unwrap();
            assert_eq!(got, want, "{}", input.display());
        }
        assert!(!out.join("bad.png").exists() && !out.join("gone.png").exists());
        assert_eq!(leftovers(&out), Vec::<String>::new());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn batch_maps_array_files_in_their_own_format() {
    let dir = scratch("batch-map");
    let v = values(1000, 1);
    std::fs::write(
        dir.join("a.npy"),
        npy(
            "<f8",
            "(10, 100)",
            &v.iter()
                .flat_map(|x| (*x as f64).to_le_bytes())
                .collect::<Vec<u8>>(),
        ),
    )
    .unwrap();
    std::fs::write(dir.join("b.f32"), raw(&v)).unwrap();
    let img = dir.join("c.png");
    gpu::io::save_image(&picture(4, 4, 0), &img).unwrap();
    let kernel = Kernel::unary(|x| x * 2.0 + 1.0).unwrap();
    let batch = Batch::new(Job::Map(kernel), dir.join("out")).backend(Backend::Cpu);
    let inputs = vec![dir.join("a.npy"), dir.join("b.f32"), img];
    let summary = runtime().block_on(batch.run(inputs, |_| {})).unwrap();
    assert_eq!(summary.succeeded, 2, "{summary}");
    assert!(
        summary.failed[0].1.to_string().contains("c.png"),
        "{:?}",
        summary.failed
    );
    let want: Vec<f32> = v.iter().map(|x| x * 2.0 + 1.0).collect();
    let binary = Batch::new(
        Job::Map(Kernel::binary(|a, b| a * b).unwrap()),
        dir.join("out2"),
    );
    let err = runtime().block_on(binary.run(vec![], |_| {})).unwrap_err();
    assert!(err.to_string().contains("2 input"), "{err}");
    let loader = Loader::new(Backend::Cpu).unwrap();
    let back: Vec<Loaded> = runtime().block_on(
        loader
            .load_paths([dir.join("out/a.npy"), dir.join("out/b.f32")])
            .collect(),
    );
    for item in back {
        let Ok(Item::Values {
            array,
            shape,
            format,
        }) = item.result
        else {
            panic!("{:?}", item.result)
        };
        assert_eq!(array.to_vec().unwrap(), want, "{}", item.name);
        // Each output keeps its input's format, and .npy its shape.
        match format {
            Format::Npy => assert_eq!(shape, vec![10, 100], "{}", item.name),
            _ => assert_eq!(shape, vec![1000], "{}", item.name),
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `batch` over `inputs` run as a pipeline, then one file at a time.
fn both_ways(batch: &Batch, inputs: &[PathBuf]) -> [gpu::io::BatchSummary; 2] {
    let rt = runtime();
    [
        rt.block_on(batch.run(inputs.to_vec(), |_| {})).unwrap(),
        rt.block_on(batch.run_sequential(inputs.to_vec(), |_| {}))
            .unwrap(),
    ]
}

#[test]
fn batch_refuses_to_overwrite_a_result_with_one_of_the_same_name() {
    let dir = scratch("batch-names");
    for sub in ["a", "b"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        gpu::io::save_image(&picture(5, 4, 0), dir.join(sub).join("x.png")).unwrap();
    }
    let batch =
        Batch::new(Job::Filters(vec![Filter::Invert]), dir.join("out")).backend(Backend::Cpu);
    let inputs = vec![dir.join("a/x.png"), dir.join("b/x.png")];
    for summary in both_ways(&batch, &inputs) {
        assert_eq!(summary.succeeded, 1, "{summary}");
        let (path, err) = &summary.failed[0];
        assert!(path.ends_with("b/x.png"), "{}", path.display());
        assert!(err.to_string().contains("same file name"), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn batch_never_writes_over_its_inputs() {
    let dir = scratch("batch-in-place");
    let inputs = write_pictures(&dir, 2);
    let before: Vec<Vec<u8>> = inputs.iter().map(|p| std::fs::read(p).unwrap()).collect();
    // The output folder named another way: a `.` in the path.
    for out in [dir.clone(), dir.join(".")] {
        let batch = Batch::new(Job::Filters(vec![Filter::Invert]), &out).backend(Backend::Cpu);
        for summary in both_ways(&batch, &inputs) {
            assert_eq!(summary.succeeded, 0, "{summary}");
            assert_eq!(summary.failed.len(), 2, "{summary}");
            for (path, err) in &summary.failed {
                let text = err.to_string();
                assert!(text.contains(&*path.to_string_lossy()), "{text}");
                assert!(text.contains("would replace it"), "{text}");
            }
        }
    }
    // An input already in the output folder, beside one of the same name
    // elsewhere (in either order): the other's result would replace it.
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let inside = out.join("img000.png");
    std::fs::copy(&inputs[0], &inside).unwrap();
    let batch = Batch::new(Job::Filters(vec![Filter::Invert]), &out).backend(Backend::Cpu);
    for pair in [
        vec![inputs[0].clone(), inside.clone()],
        vec![inside.clone(), inputs[0].clone()],
    ] {
        for summary in both_ways(&batch, &pair) {
            assert_eq!(summary.succeeded, 0, "{summary}");
            for (path, err) in &summary.failed {
                let text = err.to_string();
                let expected = if *path == inside {
                    "would replace it:".to_string()
                } else {
                    format!(
                        "would replace the input {}",
                        inside.canonicalize().unwrap().display()
                    )
                };
                assert!(text.contains(&expected), "{text}");
            }
        }
    }
    assert_eq!(std::fs::read(&inside).unwrap(), before[0]);
    let after: Vec<Vec<u8>> = inputs.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(before == after, "an input was overwritten");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn batch_setup_errors_name_the_folder_or_filter() {
    let dir = scratch("batch-setup");
    let blocker = dir.join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let batch = Batch::new(Job::Filters(vec![]), blocker.join("out"));
    let err = runtime().block_on(batch.run(vec![], |_| {})).unwrap_err();
    assert!(err.to_string().contains("file/out"), "{err}");
    let bad = Batch::new(
        Job::Filters(vec![Filter::GaussianBlur { sigma: -1.0 }]),
        dir.join("out"),
    );
    assert!(runtime().block_on(bad.run(vec![], |_| {})).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dropping_a_batch_stops_it_and_leaves_no_partial_files() {
    let dir = scratch("batch-cancel");
    let inputs = write_pictures(&dir, 40);
    let out = dir.join("out");
    let chain = Filter::parse_chain("blur:2,sharpen:1:1").unwrap();
    let batch = Batch::new(Job::Filters(chain.clone()), &out)
        .backend(Backend::Cpu)
        .concurrency(2);
    let rt = runtime();
    let stop = Arc::new(tokio::sync::Notify::new());
    let finished = rt.block_on(async {
        let signal = stop.clone();
        let run = batch.run(inputs.clone(), move |_| signal.notify_one());
        tokio::select! {
            _ = run => true,
            _ = stop.notified() => false,
        }
    });
    assert!(!finished, "the batch was stopped after its first file");
    // Dropping the runtime waits for blocking work already under way.
    drop(rt);
    let written: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        !written.is_empty() && written.len() < inputs.len(),
        "{} of {} written",
        written.len(),
        inputs.len()
    );
    let cpu = Context::new(Backend::Cpu).unwrap();
    for path in &written {
        assert!(
            !path.to_string_lossy().ends_with(".tmp"),
            "partial file {}",
            path.display()
        );
        let input = dir.join(path.file_name().unwrap());
        let want = cpu
            .filter_chain(&gpu::io::load_image(&input).unwrap(), &chain)
            .unwrap();
        assert_eq!(
            gpu::io::load_image(path).unwrap(),
            want,
            "{} is complete",
            path.display()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn gpu_batch_filters_on_the_device() {
    if context(Backend::Gpu, "loaders::gpu_batch_filters_on_the_device").is_none() {
        return;
    }
    let dir = scratch("batch-gpu");
    let mut inputs = write_pictures(&dir, 3);
    // Over a mebibyte of pixels: its transfers take the staging ring, with
    // the copies on the batch's waiting thread.
    let big = dir.join("big.png");
    gpu::io::save_image(&picture(700, 500, 7), &big).unwrap();
    inputs.push(big);
    let chain = Filter::parse_chain("blur:1,invert").unwrap();
    let out = dir.join("out");
    let batch = Batch::new(Job::Filters(chain.clone()), &out).backend(Backend::Gpu);
    let summary = runtime()
        .block_on(batch.run(inputs.clone(), |_| {}))
        .unwrap();
    assert_eq!(summary.succeeded, 4, "{summary}");
    let cpu = Context::new(Backend::Cpu).unwrap();
    for input in &inputs {
        let want = cpu
            .filter_chain(&gpu::io::load_image(input).unwrap(), &chain)
            .unwrap();
        let got = gpu::io::load_image(out.join(input.file_name().unwrap())).unwrap();
        let worst = got
            .as_raw()
            .iter()
            .zip(want.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 1, "{}: off by {worst}", input.display());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dropping_a_load_stream_stops_the_loads() {
    let counters = Counters::default();
    let sources: Vec<(String, Trickle)> = (0..40)
        .map(|i| {
            (
                format!("s{i}.f32"),
                Trickle::new(raw(&values(5000, i)), &counters),
            )
        })
        .collect();
    let loader = Loader::new(Backend::Cpu).unwrap().concurrency(2);
    let rt = runtime();
    let first = rt.block_on(async {
        let mut stream = Box::pin(loader.load_readers(sources));
        stream.next().await
    });
    assert!(first.unwrap().result.is_ok());
    // The stream is dropped: nothing more is started, now or later.
    std::thread::sleep(std::time::Duration::from_millis(50));
    drop(rt);
    let n = counters.started.load(Ordering::SeqCst);
    assert!(
        n <= 3,
        "{n} of 40 sources were started before the stream was dropped"
    );
}
