//! Filters on the CPU backend: rayon over bands of rows, SIMD along each row.
//!
//! Separable filters (Gaussian, box, `Separable`, and the blur inside
//! `Sharpen`) run per output row: the column kernel first, straight from the
//! 8-bit input rows into an `f32` row (the conversion is fused into the
//! multiply-adds), then the row kernel over that row padded by replicated
//! edge pixels, then rounding. Each step is a loop over a whole row of
//! interleaved RGBA values, which the compiler vectorises for the
//! instruction set picked at run time; nothing is stored between the two
//! passes but one row per thread. `Convolve` does the same with one pass per
//! kernel row. Colour filters and `Sobel` are simple per-row loops.
//!
//! Bands of rows go over rayon's pool, or run on the calling thread when
//! the dispatcher's plan says one thread: on a small image, waking the pool
//! costs more than it saves (a 32×32 grayscale took 10 µs through the pool,
//! 0.7 µs without it).

use super::kernels::{gaussian, luma_u32, mean};
use super::output::{image_from, uninit};
use super::Filter;
use crate::backend::cpu::simd::simd_fn;
use image::RgbaImage;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Output rows per rayon task.
const BAND: usize = 8;

/// Runs `f` on each band of `band_len` bytes of `out`, with the band's
/// index and per-thread state made by `init`: over rayon's pool when
/// `parallel`, else on the calling thread (for an image so small that
/// waking the pool would cost more than it saves, as the dispatcher's plan
/// says).
fn bands<T>(
    out: &mut [MaybeUninit<u8>],
    band_len: usize,
    parallel: bool,
    init: impl Fn() -> T + Sync + Send,
    f: impl Fn(&mut T, (usize, &mut [MaybeUninit<u8>])) + Sync + Send,
) {
    if parallel {
        out.par_chunks_mut(band_len)
            .enumerate()
            .for_each_init(init, f);
    } else {
        let mut state = init();
        for band in out.chunks_mut(band_len).enumerate() {
            f(&mut state, band);
        }
    }
}

/// `filter` applied to `img` (already validated, not empty).
pub(crate) fn apply(img: &RgbaImage, filter: &Filter, parallel: bool) -> RgbaImage {
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    match filter {
        Filter::GaussianBlur { sigma } => {
            let k = f32s(&gaussian(*sigma));
            separable(img, &k, &k, Finish::Round, parallel)
        }
        Filter::BoxBlur { radius: 0 } => img.clone(),
        Filter::BoxBlur { radius } if *radius <= MAX_INTEGER_BOX_RADIUS => {
            box_integer(img, *radius as usize, parallel)
        }
        Filter::BoxBlur { radius } => {
            let k = f32s(&mean(*radius));
            separable(img, &k, &k, Finish::Round, parallel)
        }
        Filter::Separable {
            horizontal,
            vertical,
        } => separable(img, horizontal, vertical, Finish::Round, parallel),
        Filter::Sharpen { amount, sigma } => {
            let k = f32s(&gaussian(*sigma));
            separable(img, &k, &k, Finish::Sharpen(*amount), parallel)
        }
        Filter::Convolve { size, weights } => convolve(img, *size as usize, weights, parallel),
        Filter::Sobel => sobel(img, parallel),
        Filter::Grayscale => rows(img, parallel, grayscale_row),
        Filter::Invert => rows(img, parallel, invert_row),
        Filter::BrightnessContrast {
            contrast,
            brightness,
        } => {
            let (contrast, brightness) = (*contrast, *brightness);
            rows(img, parallel, |src, dst| {
                brightness_contrast_row(src, dst, contrast, brightness)
            })
        }
    }
}

/// Rounds to nearest, ties to even (as OpenCV's `cvRound`), and saturates
/// (NaN to 0). Adding 1.5·2²³ leaves the rounded integer in the low mantissa
/// bits, which keeps the whole loop in vector instructions.
#[inline(always)]
fn round_u8(v: f32) -> u8 {
    (v.clamp(0.0, 255.0) + 12_582_912.0).to_bits() as u8
}

/// What to do with a filtered `f32` row.
#[derive(Clone, Copy)]
enum Finish {
    /// Round it.
    Round,
    /// Unsharp mask: `(1 + amount)·x − amount·blurred` on RGB, alpha kept.
    Sharpen(f32),
}

/// Per-thread rows.
struct Rows {
    /// The column pass's output, with `radius` replicated pixels either side.
    padded: Vec<f32>,
    filtered: Vec<f32>,
}

impl Rows {
    fn new(width: usize, radius: usize) -> Rows {
        Rows {
            padded: vec![0.0; (width + 2 * radius) * 4],
            filtered: vec![0.0; width * 4],
        }
    }
}

fn separable(img: &RgbaImage, h: &[f32], v: &[f32], finish: Finish, parallel: bool) -> RgbaImage {
    let (w, ht) = (img.width() as usize, img.height() as usize);
    let (rh, rv) = (h.len() / 2, v.len() / 2);
    let src = img.as_raw();
    let row = |y: usize| &src[y * w * 4..(y + 1) * w * 4];
    let mut out = uninit(w * ht * 4);
    bands(
        &mut out,
        w * 4 * BAND,
        parallel,
        || Rows::new(w, rh),
        |rows, (band, out_band)| {
            let mut taps: Vec<&[u8]> = Vec::with_capacity(v.len());
            for (i, out_row) in out_band.chunks_mut(w * 4).enumerate() {
                let y = band * BAND + i;
                taps.clear();
                taps.extend((0..v.len()).map(|j| row((y + j).saturating_sub(rv).min(ht - 1))));
                column_pass(&taps, v, &mut rows.padded[rh * 4..rh * 4 + w * 4]);
                pad_edges(&mut rows.padded, rh);
                match finish {
                    Finish::Round => row_pass_round(&rows.padded, h, out_row),
                    Finish::Sharpen(amount) => {
                        row_pass(&rows.padded, &mut rows.filtered, h);
                        sharpen_row(row(y), &rows.filtered, amount, out_row)
                    }
                }
            }
        },
    );
    image_from(w, ht, out)
}

/// Values per register block: the running sums stay in vector registers
/// while every tap is added, and are stored once.
const CHUNK: usize = 64;

/// `out[i] = Σⱼ k[j] · rows[j][i]`: the column kernel, from bytes. For a
/// symmetric kernel (every blur) the rows at equal distance from the centre
/// are added first, exactly, in 16 bits, which halves the conversions to
/// `f32` and the multiplies.
fn column_pass(rows: &[&[u8]], k: &[f32], out: &mut [f32]) {
    let taps = k.len();
    if taps > 1 && (0..taps / 2).all(|j| k[j] == k[taps - 1 - j]) {
        column_pass_symmetric(rows, k, out)
    } else {
        column_pass_general(rows, k, out)
    }
}

simd_fn! {
fn column_pass_general(rows: &[&[u8]], k: &[f32], out: &mut [f32]) {
    let n = out.len();
    let mut i = 0;
    while i + CHUNK <= n {
        let mut acc = [0.0f32; CHUNK];
        for (r, &kj) in rows.iter().zip(k) {
            let src: &[u8; CHUNK] = r[i..i + CHUNK].try_into().expect("a full chunk");
            for (a, &s) in acc.iter_mut().zip(src) {
                *a += kj * s as f32;
            }
        }
        out[i..i + CHUNK].copy_from_slice(&acc);
        i += CHUNK;
    }
    for (t, o) in out[i..].iter_mut().enumerate() {
        *o = rows.iter().zip(k).map(|(r, &kj)| kj * r[i + t] as f32).sum();
    }
}
}

simd_fn! {
fn column_pass_symmetric(rows: &[&[u8]], k: &[f32], out: &mut [f32]) {
    let taps = k.len();
    let half = taps / 2;
    let n = out.len();
    let mut i = 0;
    while i + CHUNK <= n {
        let mut acc = [0.0f32; CHUNK];
        for j in 0..half {
            let top: &[u8; CHUNK] = rows[j][i..i + CHUNK].try_into().expect("a full chunk");
            let bottom: &[u8; CHUNK] = rows[taps - 1 - j][i..i + CHUNK].try_into().expect("a full chunk");
            let kj = k[j];
            for ((a, &p), &q) in acc.iter_mut().zip(top).zip(bottom) {
                *a += kj * (p as u16 + q as u16) as f32;
            }
        }
        if taps % 2 == 1 {
            let centre: &[u8; CHUNK] = rows[half][i..i + CHUNK].try_into().expect("a full chunk");
            let kc = k[half];
            for (a, &p) in acc.iter_mut().zip(centre) {
                *a += kc * p as f32;
            }
        }
        out[i..i + CHUNK].copy_from_slice(&acc);
        i += CHUNK;
    }
    for (t, o) in out[i..].iter_mut().enumerate() {
        let mut sum = 0.0f32;
        for j in 0..half {
            sum += k[j] * (rows[j][i + t] as u16 + rows[taps - 1 - j][i + t] as u16) as f32;
        }
        if taps % 2 == 1 {
            sum += k[half] * rows[half][i + t] as f32;
        }
        *o = sum;
    }
}
}

/// Fills the `radius` pixels at either end of `padded` with copies of the
/// first and last pixel of the row between them (`BORDER_REPLICATE`).
fn pad_edges<T: Copy>(padded: &mut [T], radius: usize) {
    let n = padded.len();
    let first: [T; 4] = padded[radius * 4..radius * 4 + 4]
        .try_into()
        .expect("a pixel");
    let last: [T; 4] = padded[n - radius * 4 - 4..n - radius * 4]
        .try_into()
        .expect("a pixel");
    for p in 0..radius {
        padded[p * 4..p * 4 + 4].copy_from_slice(&first);
        padded[n - (p + 1) * 4..n - p * 4].copy_from_slice(&last);
    }
}

/// One register block of the row kernel: `acc[t] = Σₛ h[s] · padded[i + t + 4s]`.
#[inline(always)]
fn row_chunk(padded: &[f32], h: &[f32], i: usize) -> [f32; CHUNK] {
    let mut acc = [0.0f32; CHUNK];
    for (s, &k) in h.iter().enumerate() {
        let src: &[f32; CHUNK] = padded[i + 4 * s..i + 4 * s + CHUNK]
            .try_into()
            .expect("a full chunk");
        for (a, &p) in acc.iter_mut().zip(src) {
            *a += k * p;
        }
    }
    acc
}

/// The row kernel for one value near the end of the row.
#[inline(always)]
fn row_value(padded: &[f32], h: &[f32], i: usize) -> f32 {
    h.iter()
        .enumerate()
        .map(|(s, &k)| k * padded[i + 4 * s])
        .sum()
}

simd_fn! {
/// `out[i] = Σₛ h[s] · padded[i + 4s]`: the row kernel over interleaved RGBA.
fn row_pass(padded: &[f32], out: &mut [f32], h: &[f32]) {
    let n = out.len();
    let mut i = 0;
    while i + CHUNK <= n {
        out[i..i + CHUNK].copy_from_slice(&row_chunk(padded, h, i));
        i += CHUNK;
    }
    for (t, o) in out[i..].iter_mut().enumerate() {
        *o = row_value(padded, h, i + t);
    }
}
}

simd_fn! {
/// [`row_pass`] rounded straight to bytes.
fn row_pass_round(padded: &[f32], h: &[f32], out: &mut [MaybeUninit<u8>]) {
    let n = out.len();
    let mut i = 0;
    while i + CHUNK <= n {
        let acc = row_chunk(padded, h, i);
        for (o, &v) in out[i..i + CHUNK].iter_mut().zip(&acc) {
            o.write(round_u8(v));
        }
        i += CHUNK;
    }
    for (t, o) in out[i..].iter_mut().enumerate() {
        o.write(round_u8(row_value(padded, h, i + t)));
    }
}
}

simd_fn! {
fn round_row(src: &[f32], out: &mut [MaybeUninit<u8>]) {
    for (o, &v) in out.iter_mut().zip(src) {
        o.write(round_u8(v));
    }
}
}

simd_fn! {
fn sharpen_row(original: &[u8], blurred: &[f32], amount: f32, out: &mut [MaybeUninit<u8>]) {
    for ((o, x), b) in out.chunks_exact_mut(4).zip(original.chunks_exact(4)).zip(blurred.chunks_exact(4)) {
        for c in 0..3 {
            o[c].write(round_u8((1.0 + amount) * x[c] as f32 - amount * b[c]));
        }
        o[3].write(x[3]);
    }
}
}

/// The largest box radius whose sums of a whole square fit in 16 bits
/// (255 · 15² = 57375).
pub(crate) const MAX_INTEGER_BOX_RADIUS: u32 = 7;

/// Output rows per rayon task of the box blur: the column sums slide down
/// a band, so a taller band spreads the first row's full sum over more rows.
const BOX_BAND: usize = 32;

/// Box blur in integers. Per band of rows, 16-bit column sums of the
/// `2r + 1` input rows around the first output row, then slid down one row
/// at a time (add the row entering the window, subtract the one leaving:
/// two operations a value whatever the radius); per output row, 16-bit sums
/// of `2r + 1` column sums along the row, divided by `(2r + 1)²` with a
/// rounding 16-bit reciprocal multiply ([`Divide`]). Twice the lanes of `f32`.
fn box_integer(img: &RgbaImage, r: usize, parallel: bool) -> RgbaImage {
    let (w, ht) = (img.width() as usize, img.height() as usize);
    let w4 = w * 4;
    let taps = 2 * r + 1;
    let divide = Divide::new((taps * taps) as u32);
    let src = img.as_raw();
    let row = |y: isize| {
        let y = y.clamp(0, ht as isize - 1) as usize;
        &src[y * w4..(y + 1) * w4]
    };
    let mut out = uninit(w * ht * 4);
    bands(
        &mut out,
        w4 * BOX_BAND,
        parallel,
        || vec![0u16; (w + 2 * r) * 4],
        |padded, (band, out_band)| {
            let sums = r * 4..r * 4 + w4;
            let r = r as isize;
            for (i, out_row) in out_band.chunks_mut(w4).enumerate() {
                let y = (band * BOX_BAND + i) as isize;
                if i == 0 {
                    let rows: Vec<&[u8]> = (y - r..=y + r).map(row).collect();
                    column_sums(&rows, &mut padded[sums.clone()]);
                } else {
                    slide_sums(&mut padded[sums.clone()], row(y + r), row(y - r - 1));
                }
                pad_edges(padded, r as usize);
                row_sums_divided(padded, taps, divide, out_row);
            }
        },
    );
    image_from(w, ht, out)
}

/// Exact rounded division of a 16-bit sum by a fixed `d`, in 16-bit lanes:
/// `round(s / d) = ((s + (d − 1) / 2) · m) >> (16 + shift)` with `m` the
/// rounded-up reciprocal `⌈2^(16 + shift) / d⌉`. For odd `d` up to 225 and
/// sums up to `255 · d` this is exact (checked for every sum in the tests);
/// it compiles to a high-half multiply, which has twice the lanes of a
/// 32-bit one.
#[derive(Clone, Copy, Debug)]
struct Divide {
    offset: u16,
    multiplier: u16,
    shift: u32,
}

impl Divide {
    fn new(d: u32) -> Divide {
        let d64 = u64::from(d);
        let reciprocal = |k: u32| (1u64 << k).div_ceil(d64);
        // The most precise multiplier that still fits 16 bits.
        let mut k = 16;
        while reciprocal(k + 1) < 1 << 16 {
            k += 1;
        }
        Divide {
            offset: ((d - 1) / 2) as u16,
            multiplier: reciprocal(k) as u16,
            shift: k - 16,
        }
    }

    #[inline(always)]
    fn apply(self, sum: u16) -> u8 {
        let high = ((u32::from(sum + self.offset) * u32::from(self.multiplier)) >> 16) as u16;
        (high >> self.shift) as u8
    }
}

simd_fn! {
/// `out[i] = Σⱼ rows[j][i]` in 16 bits.
fn column_sums(rows: &[&[u8]], out: &mut [u16]) {
    let n = out.len();
    let mut i = 0;
    while i + CHUNK <= n {
        let mut acc = [0u16; CHUNK];
        for r in rows {
            let src: &[u8; CHUNK] = r[i..i + CHUNK].try_into().expect("a full chunk");
            for (a, &v) in acc.iter_mut().zip(src) {
                *a += v as u16;
            }
        }
        out[i..i + CHUNK].copy_from_slice(&acc);
        i += CHUNK;
    }
    for (t, o) in out[i..].iter_mut().enumerate() {
        *o = rows.iter().map(|r| r[i + t] as u16).sum();
    }
}
}

simd_fn! {
/// Moves column sums one row down: `sums[i] += entering[i] − leaving[i]`.
/// (Wrapping arithmetic: the true sums never leave 16 bits, so the
/// intermediate wrap cancels.)
fn slide_sums(sums: &mut [u16], entering: &[u8], leaving: &[u8]) {
    for ((s, &a), &b) in sums.iter_mut().zip(entering).zip(leaving) {
        *s = s.wrapping_add(u16::from(a)).wrapping_sub(u16::from(b));
    }
}
}

simd_fn! {
/// `out[i] = divide(Σₛ padded[i + 4s])` over `taps` pixels.
fn row_sums_divided(padded: &[u16], taps: usize, divide: Divide, out: &mut [MaybeUninit<u8>]) {
    let n = out.len();
    let mut i = 0;
    while i + CHUNK <= n {
        let mut acc = [0u16; CHUNK];
        for s in 0..taps {
            let src: &[u16; CHUNK] = padded[i + 4 * s..i + 4 * s + CHUNK].try_into().expect("a full chunk");
            for (a, &p) in acc.iter_mut().zip(src) {
                *a += p;
            }
        }
        for (o, &v) in out[i..i + CHUNK].iter_mut().zip(&acc) {
            o.write(divide.apply(v));
        }
        i += CHUNK;
    }
    for (t, o) in out[i..].iter_mut().enumerate() {
        let sum: u16 = (0..taps).map(|s| padded[i + t + 4 * s]).sum();
        o.write(divide.apply(sum));
    }
}
}

/// Correlation with a centred `size`×`size` kernel: per output row, one
/// padded `f32` copy of each input row it reads, and one row pass each.
fn convolve(img: &RgbaImage, size: usize, weights: &[f32], parallel: bool) -> RgbaImage {
    let (w, ht) = (img.width() as usize, img.height() as usize);
    let r = size / 2;
    let src = img.as_raw();
    let mut out = uninit(w * ht * 4);
    bands(
        &mut out,
        w * 4 * BAND,
        parallel,
        || (Rows::new(w, r), vec![0.0f32; w * 4]),
        |(rows, acc), (band, out_band)| {
            for (i, out_row) in out_band.chunks_mut(w * 4).enumerate() {
                let y = band * BAND + i;
                acc.fill(0.0);
                for ky in 0..size {
                    let yy = (y + ky).saturating_sub(r).min(ht - 1);
                    to_f32(
                        &src[yy * w * 4..(yy + 1) * w * 4],
                        &mut rows.padded[r * 4..r * 4 + w * 4],
                    );
                    pad_edges(&mut rows.padded, r);
                    row_pass(
                        &rows.padded,
                        &mut rows.filtered,
                        &weights[ky * size..(ky + 1) * size],
                    );
                    add(acc, &rows.filtered);
                }
                round_row(acc, out_row);
            }
        },
    );
    image_from(w, ht, out)
}

simd_fn! {
fn to_f32(src: &[u8], out: &mut [f32]) {
    for (o, &s) in out.iter_mut().zip(src) {
        *o = s as f32;
    }
}
}

simd_fn! {
fn add(acc: &mut [f32], x: &[f32]) {
    for (a, &v) in acc.iter_mut().zip(x) {
        *a += v;
    }
}
}

/// 3×3 Sobel on the luma, gradient magnitude in RGB, alpha kept. Per band
/// of rows: the luma of the band and one row either side, padded by one
/// replicated column at each end; then per output row the vertical
/// smoothing and difference, the horizontal difference and smoothing, and
/// the magnitude, each a loop along the row. Values are small integers in
/// `f32`, so the result is exact and the same as the scalar reference.
fn sobel(img: &RgbaImage, parallel: bool) -> RgbaImage {
    let (w, ht) = (img.width() as usize, img.height() as usize);
    let src = img.as_raw();
    let pw = w + 2;
    let mut out = uninit(w * ht * 4);
    bands(
        &mut out,
        w * 4 * BAND,
        parallel,
        || SobelRows::new(pw),
        |rows, (band, out_band)| {
            let y0 = band * BAND;
            let band_rows = out_band.len() / (w * 4);
            // Luma rows y0 - 1 ..= y0 + band_rows, clamped to the image.
            rows.luma.resize((band_rows + 2) * pw, 0.0);
            for (k, luma_row) in rows.luma.chunks_exact_mut(pw).enumerate() {
                let y = (y0 + k).saturating_sub(1).min(ht - 1);
                luma_row_f32(&src[y * w * 4..(y + 1) * w * 4], &mut luma_row[1..=w]);
                luma_row[0] = luma_row[1];
                luma_row[w + 1] = luma_row[w];
            }
            for (i, out_row) in out_band.chunks_mut(w * 4).enumerate() {
                let l = |k: usize| &rows.luma[(i + k) * pw..(i + k + 1) * pw];
                sobel_row(
                    [l(0), l(1), l(2)],
                    &mut rows.smooth,
                    &mut rows.diff,
                    &mut rows.magnitude,
                );
                let y = y0 + i;
                interleave_gray(&rows.magnitude, &src[y * w * 4..(y + 1) * w * 4], out_row);
            }
        },
    );
    image_from(w, ht, out)
}

/// Per-thread rows for [`sobel`].
struct SobelRows {
    luma: Vec<f32>,
    smooth: Vec<f32>,
    diff: Vec<f32>,
    magnitude: Vec<u8>,
}

impl SobelRows {
    fn new(padded_width: usize) -> SobelRows {
        SobelRows {
            luma: Vec::new(),
            smooth: vec![0.0; padded_width],
            diff: vec![0.0; padded_width],
            magnitude: vec![0; padded_width - 2],
        }
    }
}

simd_fn! {
/// The luma (OpenCV's 15-bit weights) of a row of RGBA pixels, as `f32`.
fn luma_row_f32(rgba: &[u8], out: &mut [f32]) {
    for (o, p) in out.iter_mut().zip(rgba.chunks_exact(4)) {
        *o = ((p[0] as u32 * 9798 + p[1] as u32 * 19235 + p[2] as u32 * 3735 + (1 << 14)) >> 15) as f32;
    }
}
}

simd_fn! {
/// One output row of Sobel magnitudes from three padded luma rows.
fn sobel_row(l: [&[f32]; 3], smooth: &mut [f32], diff: &mut [f32], magnitude: &mut [u8]) {
    for (((s, d), (&a, &b)), &c) in smooth.iter_mut().zip(diff.iter_mut()).zip(l[0].iter().zip(l[1])).zip(l[2]) {
        *s = a + 2.0 * b + c;
        *d = c - a;
    }
    for (x, m) in magnitude.iter_mut().enumerate() {
        let gx = smooth[x + 2] - smooth[x];
        let gy = diff[x] + 2.0 * diff[x + 1] + diff[x + 2];
        *m = round_u8((gx * gx + gy * gy).sqrt());
    }
}
}

simd_fn! {
/// Writes `[g, g, g, alpha]` pixels: `g` from `gray`, alpha from `rgba`.
fn interleave_gray(gray: &[u8], rgba: &[u8], out: &mut [MaybeUninit<u8>]) {
    for ((o, &g), p) in out.chunks_exact_mut(4).zip(gray).zip(rgba.chunks_exact(4)) {
        o[0].write(g);
        o[1].write(g);
        o[2].write(g);
        o[3].write(p[3]);
    }
}
}

/// `row` applied to bands of whole rows: a colour transform written as a
/// loop over a row, which the compiler vectorises.
fn rows(
    img: &RgbaImage,
    parallel: bool,
    row: impl Fn(&[u8], &mut [MaybeUninit<u8>]) + Sync + Send,
) -> RgbaImage {
    let (w, ht) = (img.width() as usize, img.height() as usize);
    let band = w * 4 * BAND;
    let src = img.as_raw();
    let mut out = uninit(w * ht * 4);
    bands(
        &mut out,
        band,
        parallel,
        || (),
        |(), (k, dst)| row(&src[k * band..k * band + dst.len()], dst),
    );
    image_from(w, ht, out)
}

/// Each pixel as a little-endian `u32` (red in the low byte, alpha in the
/// high one) transformed by `f`: 32-bit lanes, which vectorise where byte
/// shuffles within a pixel would not.
#[inline(always)]
fn per_pixel(src: &[u8], out: &mut [MaybeUninit<u8>], f: impl Fn(u32) -> u32) {
    for (o, p) in out.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
        let v = f(u32::from_le_bytes([p[0], p[1], p[2], p[3]]));
        for (o, b) in o.iter_mut().zip(v.to_le_bytes()) {
            o.write(b);
        }
    }
}

simd_fn! {
/// [`luma_u32`] of each pixel, in 32-bit lanes; alpha kept.
fn grayscale_row(src: &[u8], out: &mut [MaybeUninit<u8>]) {
    per_pixel(src, out, |p| {
        let (r, g, b) = (p & 0xff, (p >> 8) & 0xff, (p >> 16) & 0xff);
        (p & 0xff00_0000) | (luma_u32(r, g, b) * 0x0001_0101)
    })
}
}

simd_fn! {
/// `contrast · x + brightness`, rounded, on red, green and blue; alpha
/// kept. Computed, not looked up in a table: lookups are one load per
/// channel, this is a few vector instructions per 16 channels.
fn brightness_contrast_row(src: &[u8], out: &mut [MaybeUninit<u8>], contrast: f32, brightness: f32) {
    for (o, p) in out.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
        for c in 0..3 {
            o[c].write(round_u8(contrast * p[c] as f32 + brightness));
        }
        o[3].write(p[3]);
    }
}
}

simd_fn! {
/// `255 − x` on red, green and blue, alpha kept.
fn invert_row(src: &[u8], out: &mut [MaybeUninit<u8>]) {
    per_pixel(src, out, |p| p ^ 0x00ff_ffff)
}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reciprocal multiply rounds every possible box sum like exact
    /// division (odd window areas have no ties).
    #[test]
    fn divide_is_exact_for_every_integer_box_sum() {
        for r in 1..=MAX_INTEGER_BOX_RADIUS {
            let d = (2 * r + 1) * (2 * r + 1);
            let divide = Divide::new(d);
            for sum in 0..=255 * d {
                let want = ((2 * sum + d) / (2 * d)) as u8;
                assert_eq!(
                    divide.apply(sum as u16),
                    want,
                    "radius {r}, sum {sum}, {divide:?}"
                );
            }
        }
    }
}
