//! The examples' generated test image and their `--image WIDTHxHEIGHT`
//! parsing.

use anyhow::Result;
use image::RgbaImage;

/// Most pixels a generated test image may have: 2^28, a 1 GiB RGBA image
/// (16384×16384), several of which a run may hold at once.
const MAX_PIXELS: u64 = 1 << 28;

/// `text` as `WIDTHxHEIGHT`, both above zero and at most [`MAX_PIXELS`] in
/// all, or an error naming it.
pub fn parse_size(text: &str) -> Result<(u32, u32)> {
    let (w, h) = text
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .filter(|&(w, h)| w > 0 && h > 0)
        .ok_or_else(|| {
            anyhow::anyhow!("--image {text:?}: expected WIDTHxHEIGHT, e.g. 1920x1080")
        })?;
    let pixels = u64::from(w) * u64::from(h);
    anyhow::ensure!(
        pixels <= MAX_PIXELS,
        "--image {text:?}: {pixels} pixels, over the {MAX_PIXELS} a test image may have"
    );
    Ok((w, h))
}

/// The anchors' test image (../shared/anchors/rust), so that figures
/// compare with theirs.
pub fn anchors_image(width: u32, height: u32) -> RgbaImage {
    RgbaImage::from_fn(width, height, |i, j| {
        image::Rgba([(i * 7 + j * 13) as u8, (i ^ j) as u8, (i * j) as u8, 255])
    })
}
