//! The reference filters: plain loops in `f64`, one pixel at a time,
//! written to be read. The CPU and GPU backends are tested against these,
//! and these against the OpenCV golden images.

use super::kernels::{gaussian, luma, mean, saturate_u8};
use super::Filter;
use image::RgbaImage;

/// `filter` applied to `img` (already validated).
pub(crate) fn apply(img: &RgbaImage, filter: &Filter) -> RgbaImage {
    match filter {
        Filter::GaussianBlur { sigma } => {
            let k = gaussian(*sigma);
            separable(img, &k, &k)
        }
        Filter::BoxBlur { radius } => {
            let k = mean(*radius);
            separable(img, &k, &k)
        }
        Filter::Separable {
            horizontal,
            vertical,
        } => {
            let h: Vec<f64> = horizontal.iter().map(|&w| w as f64).collect();
            let v: Vec<f64> = vertical.iter().map(|&w| w as f64).collect();
            separable(img, &h, &v)
        }
        Filter::Convolve { size, weights } => convolve(img, *size as usize, weights),
        Filter::Sharpen { amount, sigma } => {
            let k = gaussian(*sigma);
            let blurred = separable_f64(img, &k, &k);
            sharpen(img, &blurred, *amount)
        }
        Filter::Sobel => sobel(img),
        Filter::Grayscale => point(img, |[r, g, b, a]| {
            let y = luma(r, g, b);
            [y, y, y, a]
        }),
        Filter::Invert => point(img, |[r, g, b, a]| [255 - r, 255 - g, 255 - b, a]),
        Filter::BrightnessContrast {
            contrast,
            brightness,
        } => {
            let (c, b) = (*contrast as f64, *brightness as f64);
            let f = |x: u8| saturate_u8(c * x as f64 + b);
            point(img, |[r, g, bl, a]| [f(r), f(g), f(bl), a])
        }
    }
}

/// The pixel at `(x, y)` with coordinates clamped into the image
/// (`BORDER_REPLICATE`).
fn at(img: &RgbaImage, x: i64, y: i64) -> [u8; 4] {
    let x = x.clamp(0, img.width() as i64 - 1) as u32;
    let y = y.clamp(0, img.height() as i64 - 1) as u32;
    img.get_pixel(x, y).0
}

/// A row kernel, then a column kernel, both centred; all four channels.
pub(crate) fn separable(img: &RgbaImage, h: &[f64], v: &[f64]) -> RgbaImage {
    let (w, ht) = img.dimensions();
    let values = separable_f64(img, h, v);
    RgbaImage::from_fn(w, ht, |x, y| {
        image::Rgba(values[y as usize * w as usize + x as usize].map(saturate_u8))
    })
}

/// [`separable`] before rounding: one `[f64; 4]` per pixel, row-major.
fn separable_f64(img: &RgbaImage, h: &[f64], v: &[f64]) -> Vec<[f64; 4]> {
    let (w, ht) = img.dimensions();
    let (rh, rv) = ((h.len() / 2) as i64, (v.len() / 2) as i64);
    let mut rows = vec![[0.0f64; 4]; w as usize * ht as usize];
    for y in 0..ht as i64 {
        for x in 0..w as i64 {
            let mut acc = [0.0; 4];
            for (i, k) in h.iter().enumerate() {
                let p = at(img, x + i as i64 - rh, y);
                for c in 0..4 {
                    acc[c] += k * p[c] as f64;
                }
            }
            rows[(y * w as i64 + x) as usize] = acc;
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    for y in 0..ht as i64 {
        for x in 0..w as i64 {
            let mut acc = [0.0; 4];
            for (j, k) in v.iter().enumerate() {
                let yy = (y + j as i64 - rv).clamp(0, ht as i64 - 1);
                let p = rows[(yy * w as i64 + x) as usize];
                for c in 0..4 {
                    acc[c] += k * p[c];
                }
            }
            out.push(acc);
        }
    }
    out
}

/// Correlation with a centred `size`×`size` kernel; all four channels.
fn convolve(img: &RgbaImage, size: usize, weights: &[f32]) -> RgbaImage {
    let r = (size / 2) as i64;
    RgbaImage::from_fn(img.width(), img.height(), |x, y| {
        let mut acc = [0.0f64; 4];
        for ky in 0..size {
            for kx in 0..size {
                let k = weights[ky * size + kx] as f64;
                let p = at(img, x as i64 + kx as i64 - r, y as i64 + ky as i64 - r);
                for c in 0..4 {
                    acc[c] += k * p[c] as f64;
                }
            }
        }
        image::Rgba(acc.map(saturate_u8))
    })
}

/// `(1 + amount)·x − amount·blurred` on RGB, `blurred` unrounded; alpha
/// from `img`.
fn sharpen(img: &RgbaImage, blurred: &[[f64; 4]], amount: f32) -> RgbaImage {
    let a = amount as f64;
    let w = img.width();
    RgbaImage::from_fn(w, img.height(), |x, y| {
        let p = img.get_pixel(x, y).0;
        let b = blurred[y as usize * w as usize + x as usize];
        let f = |c: usize| saturate_u8((1.0 + a) * p[c] as f64 - a * b[c]);
        image::Rgba([f(0), f(1), f(2), p[3]])
    })
}

/// Gradient magnitude of the luma (3×3 Sobel, replicated border), written
/// to RGB; alpha kept.
fn sobel(img: &RgbaImage) -> RgbaImage {
    let g = |x: i64, y: i64| {
        let [r, gr, b, _] = at(img, x, y);
        luma(r, gr, b) as f32
    };
    RgbaImage::from_fn(img.width(), img.height(), |x, y| {
        let (x, y) = (x as i64, y as i64);
        let gx = (g(x + 1, y - 1) + 2.0 * g(x + 1, y) + g(x + 1, y + 1))
            - (g(x - 1, y - 1) + 2.0 * g(x - 1, y) + g(x - 1, y + 1));
        let gy = (g(x - 1, y + 1) + 2.0 * g(x, y + 1) + g(x + 1, y + 1))
            - (g(x - 1, y - 1) + 2.0 * g(x, y - 1) + g(x + 1, y - 1));
        let m = saturate_u8((gx * gx + gy * gy).sqrt() as f64);
        image::Rgba([m, m, m, at(img, x, y)[3]])
    })
}

/// A per-pixel transform.
fn point(img: &RgbaImage, f: impl Fn([u8; 4]) -> [u8; 4]) -> RgbaImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        p.0 = f(p.0);
    }
    out
}
