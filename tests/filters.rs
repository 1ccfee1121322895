//! Filters against OpenCV: golden images made by `scripts/make_goldens.py`
//! (OpenCV 5, `BORDER_REPLICATE`) must be matched within ±1 per channel by
//! every backend; plus the text form and bad parameters.

use crate::support::context;
use gpu::filter::Filter;
use gpu::{Backend, Context};
use image::RgbaImage;
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/filters");
    if dir.exists() {
        dir
    } else {
        // A prebuilt test binary run from a copy of the repository elsewhere.
        PathBuf::from("tests/data/filters")
    }
}

fn load(name: &str) -> RgbaImage {
    let path = data_dir().join(name);
    image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgba8()
}

/// `(filter, file name part)` pairs from the goldens' listing.
fn golden_filters() -> Vec<(Filter, String)> {
    let listing = std::fs::read_to_string(data_dir().join("filters.txt")).unwrap();
    listing
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (spec, file) = l.split_once(' ').unwrap();
            (spec.parse::<Filter>().unwrap(), file.to_string())
        })
        .collect()
}

const INPUTS: [&str; 6] = [
    "synthetic_37x23",
    "noise_16x16",
    "row_9x1",
    "column_1x9",
    "pixel_1x1",
    "coffee_60x40",
];

/// The largest per-channel difference, and where.
fn max_difference(a: &RgbaImage, b: &RgbaImage) -> (u8, (u32, u32, usize)) {
    assert_eq!(a.dimensions(), b.dimensions());
    let mut worst = (0u8, (0, 0, 0));
    for (x, y, p) in a.enumerate_pixels() {
        let q = b.get_pixel(x, y);
        for c in 0..4 {
            let d = p.0[c].abs_diff(q.0[c]);
            if d > worst.0 {
                worst = (d, (x, y, c));
            }
        }
    }
    worst
}

pub fn matches_opencv_goldens(ctx: &Context) {
    let filters = golden_filters();
    assert!(filters.len() >= 12, "the listing names every filter");
    let mut failures = Vec::new();
    for input in INPUTS {
        let img = load(&format!("{input}.png"));
        for (filter, file) in &filters {
            let golden = load(&format!("{input}__{file}.png"));
            let got = ctx.filter(&img, filter).unwrap();
            let (d, at) = max_difference(&got, &golden);
            if d > 1 {
                failures.push(format!("{input} {filter}: off by {d} at {at:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} backend vs OpenCV:\n{}",
        ctx.backend(),
        failures.join("\n")
    );
}

pub fn empty_and_thin_images(ctx: &Context) {
    for f in golden_filters().into_iter().map(|(f, _)| f) {
        let empty = RgbaImage::new(0, 0);
        assert_eq!(ctx.filter(&empty, &f).unwrap().dimensions(), (0, 0), "{f}");
        let wide = RgbaImage::from_fn(300, 1, |x, _| image::Rgba([x as u8, 0, 255, 255]));
        assert_eq!(ctx.filter(&wide, &f).unwrap().dimensions(), (300, 1), "{f}");
        // A radius far larger than the image only replicates the border.
        let big = Filter::BoxBlur { radius: 500 };
        let out = ctx.filter(&wide, &big).unwrap();
        assert_eq!(out.dimensions(), (300, 1));
    }
}

macro_rules! filter_suite {
    ($module:ident, $backend:expr) => {
        mod $module {
            use super::*;
            #[test]
            fn matches_opencv_goldens() {
                if let Some(c) = context($backend, "filters::matches_opencv_goldens") {
                    super::matches_opencv_goldens(&c)
                }
            }
            #[test]
            fn resident_images_match_host_calls() {
                if let Some(c) = context($backend, "filters::resident_images_match_host_calls") {
                    super::resident_images_match_host_calls(&c)
                }
            }
            #[test]
            fn empty_and_thin_images() {
                if let Some(c) = context($backend, "filters::empty_and_thin_images") {
                    super::empty_and_thin_images(&c)
                }
            }
        }
    };
}

filter_suite!(scalar, Backend::Scalar);
filter_suite!(cpu, Backend::Cpu);
filter_suite!(gpu_backend, Backend::Gpu);

#[test]
fn text_form_round_trips() {
    for (f, _) in golden_filters() {
        let again: Filter = f.to_string().parse().unwrap();
        assert_eq!(again, f);
    }
    let chain = Filter::parse_chain("blur:3,sobel").unwrap();
    assert_eq!(
        chain,
        vec![Filter::GaussianBlur { sigma: 3.0 }, Filter::Sobel]
    );
    let chain = Filter::parse_chain("sep:0.25,0.5,0.25:1,0,-1,invert,box:2").unwrap();
    assert_eq!(chain.len(), 3);
}

#[test]
fn bad_parameters_are_errors_naming_the_value() {
    let cases = [
        ("blur:0", "sigma must be finite and positive, got 0"),
        ("blur:-1", "sigma must be finite and positive, got -1"),
        ("blur:NaN", "sigma must be finite and positive, got NaN"),
        ("blur:inf", "sigma must be finite and positive, got inf"),
        ("blur:x", "sigma \"x\" is not a number"),
        ("blur", "blur takes 1 parameter(s)"),
        ("box:-2", "radius \"-2\" is not a whole number"),
        (
            "sharpen:-1:2",
            "amount must be finite and non-negative, got -1",
        ),
        (
            "conv:2:1,1,1,1",
            "the kernel side must have an odd length, got 2",
        ),
        ("conv:3:1,2", "a 3x3 kernel needs 9 weights, got 2"),
        (
            "sep:1,1:1",
            "the horizontal kernel must have an odd length, got 2",
        ),
        (
            "blur:5000",
            "sigma must be at most 4096/3 (a radius ceil(3·sigma) of at most 4096), got 5000",
        ),
        (
            "sharpen:1:1366",
            "sigma must be at most 4096/3 (a radius ceil(3·sigma) of at most 4096), got 1366",
        ),
        (
            "box:4000000000",
            "radius must be at most 4096, got 4000000000",
        ),
        ("emboss", "unknown filter"),
        ("sobel:1", "sobel takes 0 parameter(s)"),
    ];
    for (text, reason) in cases {
        let err = text.parse::<Filter>().unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("invalid filter {text:?}")),
            "{text}: {msg}"
        );
        assert!(msg.contains(reason), "{text}: {msg}");
    }
    // Built directly (not parsed), a bad filter is still refused when applied.
    let img = RgbaImage::new(2, 2);
    let ctx = Context::new(Backend::Cpu).unwrap();
    assert!(ctx
        .filter(&img, &Filter::GaussianBlur { sigma: f32::NAN })
        .is_err());
    // Kernels past `MAX_RADIUS` are refused before any weight is made, on
    // every backend (`blur:1e18` once asked for 6e18 weights).
    for backend in [Backend::Scalar, Backend::Cpu, Backend::Gpu, Backend::Auto] {
        let Some(ctx) = context(backend, "bad_parameters_are_errors_naming_the_value") else {
            continue;
        };
        for f in [
            Filter::GaussianBlur { sigma: f32::MAX },
            Filter::BoxBlur { radius: u32::MAX },
            Filter::Separable {
                horizontal: vec![0.0; 2 * gpu::filter::spec::MAX_RADIUS + 3],
                vertical: vec![1.0],
            },
        ] {
            let err = ctx.filter(&img, &f).unwrap_err().to_string();
            assert!(err.contains("at most 4096"), "{backend}: {err}");
            // Thousands of weights are not repeated in the message.
            assert!(err.len() < 300, "{backend}: {} characters", err.len());
        }
    }
}

#[test]
fn gpu_chains_bands_and_wide_kernels_agree_with_the_cpu() {
    let Some(gpu) = context(Backend::Gpu, "filters::gpu_chains_bands_and_wide_kernels") else {
        return;
    };
    let cpu = Context::new(Backend::Cpu).unwrap();
    let pattern = |w: u32, h: u32| {
        RgbaImage::from_fn(w, h, |x, y| {
            image::Rgba([
                (x * 7 + y * 13) as u8,
                (x ^ y) as u8,
                (x * y) as u8,
                255 - (x % 7) as u8,
            ])
        })
    };
    // A chain on the device equals the same filters one call at a time.
    let img = pattern(97, 61);
    let chain = Filter::parse_chain("blur:1.5,sharpen:1:1,invert,box:2,sobel").unwrap();
    let stepwise = chain
        .iter()
        .fold(img.clone(), |im, f| gpu.filter(&im, f).unwrap());
    assert_eq!(gpu.filter_chain(&img, &chain).unwrap(), stepwise);
    // Kernels wider than the shader's tile take the untiled row pass.
    let wide = Filter::BoxBlur { radius: 300 };
    let (d, at) = max_difference(
        &gpu.filter(&img, &wide).unwrap(),
        &cpu.filter(&img, &wide).unwrap(),
    );
    assert!(d <= 1, "box:300 off by {d} at {at:?}");
    // An image whose f32 intermediate exceeds one 128 MiB binding runs in bands.
    let big = pattern(4096, 2100);
    for f in ["blur:2", "sobel", "conv:3:0,1,0,1,-4,1,0,1,0"] {
        let f: Filter = f.parse().unwrap();
        let (d, at) = max_difference(
            &gpu.filter(&big, &f).unwrap(),
            &cpu.filter(&big, &f).unwrap(),
        );
        assert!(d <= 1, "{f} on 4096x2100: off by {d} at {at:?}");
    }
    // A device-resident image taller than one band goes through the host in bands.
    let chain = Filter::parse_chain("invert,sobel").unwrap();
    let resident = gpu.image(&big).unwrap().filter_chain(&chain).unwrap();
    assert_eq!(resident.backend(), Backend::Gpu);
    let (d, at) = max_difference(
        &resident.to_rgba().unwrap(),
        &cpu.filter_chain(&big, &chain).unwrap(),
    );
    assert!(
        d <= 1,
        "resident invert,sobel on 4096x2100: off by {d} at {at:?}"
    );
}

/// Filters on a device-resident image give what host calls give, chains
/// included, and empty images pass through.
pub fn resident_images_match_host_calls(ctx: &Context) {
    let img = load("coffee_60x40.png");
    let chain = Filter::parse_chain("blur:1.5,sharpen:1:1,invert,box:2,sobel").unwrap();
    let resident = ctx.image(&img).unwrap();
    assert_eq!(resident.dimensions(), (60, 40));
    let stepwise = chain
        .iter()
        .try_fold(resident.clone(), |im, f| im.filter(f))
        .unwrap();
    let want = ctx.filter_chain(&img, &chain).unwrap();
    assert_eq!(stepwise.to_rgba().unwrap(), want);
    assert_eq!(
        resident.filter_chain(&chain).unwrap().to_rgba().unwrap(),
        want
    );
    assert_eq!(resident.to_rgba().unwrap(), img, "the input is unchanged");
    // into_rgba gives the pixels whether a clone shares them (a copy) or not.
    let shared = resident.clone();
    assert_eq!(shared.into_rgba().unwrap(), img, "a shared image");
    assert_eq!(resident.to_rgba().unwrap(), img, "the clone's pixels stay");
    let unique = resident.filter_chain(&chain).unwrap();
    assert_eq!(unique.into_rgba().unwrap(), want, "a unique image");
    for (w, h) in [(0, 0), (0, 5), (1, 1), (7, 1)] {
        let small = RgbaImage::from_pixel(w, h, image::Rgba([1, 2, 3, 4]));
        let out = ctx.image(&small).unwrap().filter_chain(&chain).unwrap();
        assert_eq!(
            out.to_rgba().unwrap(),
            ctx.filter_chain(&small, &chain).unwrap()
        );
    }
    let err = resident.filter(&Filter::BoxBlur { radius: 0 }).map(|_| ());
    assert!(err.is_ok(), "radius 0 is the identity: {err:?}");
    assert!(resident
        .filter(&Filter::GaussianBlur { sigma: -1.0 })
        .is_err());
}

/// The box blur with replicated borders in exact integer arithmetic: the
/// window's sum divided by its area, rounded (odd areas have no ties).
fn exact_box_blur(img: &RgbaImage, radius: u32) -> RgbaImage {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let r = radius as i64;
    let area = (2 * r + 1) * (2 * r + 1);
    RgbaImage::from_fn(img.width(), img.height(), |x, y| {
        let mut px = [0u8; 4];
        for (c, out) in px.iter_mut().enumerate() {
            let mut sum = 0i64;
            for dy in -r..=r {
                for dx in -r..=r {
                    let xx = (x as i64 + dx).clamp(0, w - 1) as u32;
                    let yy = (y as i64 + dy).clamp(0, h - 1) as u32;
                    sum += i64::from(img.get_pixel(xx, yy).0[c]);
                }
            }
            *out = ((2 * sum + area) / (2 * area)) as u8;
        }
        image::Rgba(px)
    })
}

#[test]
fn box_blur_every_small_radius_matches_the_reference() {
    // Radii up to 7 take the CPU's integer path (16-bit column sums slid down
    // bands of 32 rows, a 16-bit reciprocal multiply), which must be exact;
    // 8 and up the f32 path. A saturated image stresses the sums' range, and
    // a noise image taller than three bands (height not a multiple of 32)
    // the sliding window.
    let cpu = Context::new(Backend::Cpu).unwrap();
    let scalar = Context::new(Backend::Scalar).unwrap();
    let white = RgbaImage::from_pixel(40, 30, image::Rgba([255, 255, 255, 255]));
    let noise = RgbaImage::from_fn(83, 101, |x, y| {
        let v =
            (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).wrapping_mul(2_246_822_519);
        image::Rgba(v.to_le_bytes())
    });
    let img = load("synthetic_37x23.png");
    for radius in 0..=9 {
        let f = Filter::BoxBlur { radius };
        assert_eq!(
            cpu.filter(&white, &f).unwrap(),
            white,
            "box:{radius} keeps a white image white"
        );
        if radius <= 7 {
            for im in [&img, &noise] {
                let got = cpu.filter(im, &f).unwrap();
                let (d, at) = max_difference(&got, &exact_box_blur(im, radius));
                assert_eq!(d, 0, "box:{radius} differs from the exact mean at {at:?}");
            }
        }
        let (d, at) = max_difference(
            &cpu.filter(&img, &f).unwrap(),
            &scalar.filter(&img, &f).unwrap(),
        );
        assert!(d <= 1, "box:{radius} off by {d} at {at:?}");
    }
}

/// The CPU backend runs a filter on the calling thread when the
/// dispatcher's plan says one thread (small images: waking rayon's pool
/// would cost more than it saves) and over the pool otherwise, as its
/// dispatch record says; both agree with the scalar reference.
#[test]
fn cpu_filters_run_on_as_many_threads_as_planned() {
    let cpu = Context::new(Backend::Cpu).unwrap();
    let scalar = Context::new(Backend::Scalar).unwrap();
    let model = cpu.cost_model().clone();
    let threads = rayon::current_num_threads();
    let small = load("synthetic_37x23.png");
    let large = RgbaImage::from_fn(320, 240, |x, y| {
        let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).wrapping_mul(97);
        image::Rgba(v.to_le_bytes())
    });
    let mut pooled = 0;
    for (f, name) in golden_filters() {
        for img in [&small, &large] {
            let pixels = img.width() as usize * img.height() as usize;
            let got = cpu.filter(img, &f).unwrap();
            let planned = model.cpu_filter_plan(std::slice::from_ref(&f), pixels).0;
            let d = cpu.last_dispatch().unwrap();
            assert_eq!(d.threads, planned, "{name} on {pixels} pixels: {d}");
            pooled += usize::from(d.threads > 1);
            let (diff, at) = max_difference(&got, &scalar.filter(img, &f).unwrap());
            assert!(
                diff <= 1,
                "{name} on {pixels} pixels ({d}): off by {diff} at {at:?}"
            );
        }
    }
    if threads > 1 {
        assert!(pooled > 0, "no filter used the pool on 320×240 pixels");
    }
}
