//! The 1-D weights behind the separable filters.

/// Radius of the Gaussian kernel for `sigma`: `ceil(3·sigma)`.
pub fn gaussian_radius(sigma: f32) -> usize {
    (3.0 * sigma as f64).ceil() as usize
}

/// The normalised Gaussian weights `exp(-i²/2σ²)` for `i` in `-r..=r`, as
/// `cv2.getGaussianKernel` computes them (in `f64`).
pub fn gaussian(sigma: f32) -> Vec<f64> {
    let r = gaussian_radius(sigma) as i64;
    let s = sigma as f64;
    let w: Vec<f64> = (-r..=r)
        .map(|i| (-((i * i) as f64) / (2.0 * s * s)).exp())
        .collect();
    let total: f64 = w.iter().sum();
    w.into_iter().map(|x| x / total).collect()
}

/// `2r + 1` equal weights summing to one.
pub fn mean(radius: u32) -> Vec<f64> {
    let k = 2 * radius as usize + 1;
    vec![1.0 / k as f64; k]
}

/// The luma of an RGB pixel, exactly as OpenCV's `COLOR_RGBA2GRAY` for 8-bit
/// images: 0.299/0.587/0.114 as 15-bit fixed-point weights, rounded
/// (checked bit for bit against OpenCV 5 on random pixels).
#[inline]
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    luma_u32(r.into(), g.into(), b.into()) as u8
}

/// [`luma`] of channels held in `u32` lanes (each at most 255).
#[inline(always)]
pub fn luma_u32(r: u32, g: u32, b: u32) -> u32 {
    (r * 9798 + g * 19235 + b * 3735 + (1 << 14)) >> 15
}

/// Rounds to nearest (ties to even, as `cvRound`) and saturates to a byte.
#[inline]
pub fn saturate_u8(v: f64) -> u8 {
    if v.is_nan() {
        0
    } else {
        v.round_ties_even().clamp(0.0, 255.0) as u8
    }
}
