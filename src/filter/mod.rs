//! Image filters on `image::RgbaImage`: the [`Filter`] data type, and the
//! convenience functions that run one on the default context.
//!
//! * [`spec`]: the filters and their text form (`blur:3`, `box:2`, `sobel`…).
//! * `kernels`: the 1-D weights and the luma formula.
//! * `scalar`: the reference implementation (the oracle in tests).
//! * `cpu`: separable passes over rows, SIMD along each row, rayon over bands.
//! * `gpu`: `shaders/filter.wgsl`, band by band, chains kept on the device.
//! * `output`: uninitialised, huge-page output images for both.
//!
//! Every filter matches the OpenCV function named on its [`Filter`] variant
//! within ±1 per channel (`BORDER_REPLICATE`), on every backend; the tests
//! compare against golden images made with OpenCV by
//! `scripts/make_goldens.py`. Alpha: blurs and convolutions filter all four
//! channels (as OpenCV does); colour filters keep alpha. An empty image
//! (0×0) filters to an empty image.

pub(crate) mod cpu;
pub(crate) mod gpu;
pub(crate) mod kernels;
pub(crate) mod output;
pub(crate) mod scalar;
pub mod spec;

pub use spec::Filter;

use crate::backend::Backend;
use crate::error::Result;
use image::RgbaImage;

/// `filters` (validated, at least one) applied in order on a host backend
/// (`Scalar`, or the CPU for any other, over rayon's pool when `parallel`):
/// the first reads the caller's image, of which no copy is made.
pub(crate) fn apply_chain_on_host(
    backend: Backend,
    img: &RgbaImage,
    filters: &[Filter],
    parallel: bool,
) -> RgbaImage {
    let run = |img: &RgbaImage, filter: &Filter| match backend {
        Backend::Scalar => scalar::apply(img, filter),
        _ => cpu::apply(img, filter, parallel),
    };
    let first = run(img, &filters[0]);
    filters[1..].iter().fold(first, |im, f| run(&im, f))
}

/// Whether the CPU backend runs `filters` over an image of `pixels` pixels
/// on rayon's pool, by this process's cost model (as a context decides for
/// host images).
pub(crate) fn cpu_parallel(filters: &[Filter], pixels: usize) -> bool {
    crate::calibration::current_model()
        .cpu_filter_plan(filters, pixels)
        .0
        > 1
}

/// `cv2.GaussianBlur` with radius `ceil(3·sigma)`, on the default context.
///
/// ```
/// let img = image::RgbaImage::from_pixel(8, 8, image::Rgba([10, 20, 30, 255]));
/// let out = gpu::filter::gaussian_blur(&img, 2.0)?;
/// assert_eq!(out.get_pixel(3, 3).0, [10, 20, 30, 255]);
/// assert!(gpu::filter::gaussian_blur(&img, 0.0).is_err());
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn gaussian_blur(img: &RgbaImage, sigma: f32) -> Result<RgbaImage> {
    crate::default_context()?.filter(img, &Filter::GaussianBlur { sigma })
}

/// `cv2.blur` over a `(2·radius + 1)²` square, on the default context.
///
/// ```
/// let img = image::RgbaImage::from_pixel(4, 4, image::Rgba([0, 0, 0, 255]));
/// assert_eq!(gpu::filter::box_blur(&img, 1)?.dimensions(), (4, 4));
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn box_blur(img: &RgbaImage, radius: u32) -> Result<RgbaImage> {
    crate::default_context()?.filter(img, &Filter::BoxBlur { radius })
}

/// Unsharp mask (see [`Filter::Sharpen`]), on the default context.
///
/// ```
/// let img = image::RgbaImage::from_pixel(4, 4, image::Rgba([9, 9, 9, 255]));
/// assert_eq!(gpu::filter::sharpen(&img, 1.5, 2.0)?.get_pixel(0, 0).0, [9, 9, 9, 255]);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn sharpen(img: &RgbaImage, amount: f32, sigma: f32) -> Result<RgbaImage> {
    crate::default_context()?.filter(img, &Filter::Sharpen { amount, sigma })
}

/// Gradient magnitude of luma (see [`Filter::Sobel`]), on the default context.
///
/// ```
/// let img = image::RgbaImage::from_pixel(4, 4, image::Rgba([90, 90, 90, 255]));
/// assert_eq!(gpu::filter::sobel(&img)?.get_pixel(1, 1).0, [0, 0, 0, 255]);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn sobel(img: &RgbaImage) -> Result<RgbaImage> {
    crate::default_context()?.filter(img, &Filter::Sobel)
}

/// Luma with OpenCV's weights, in R, G and B, on the default context.
///
/// ```
/// let img = image::RgbaImage::from_pixel(1, 1, image::Rgba([255, 0, 0, 7]));
/// assert_eq!(gpu::filter::grayscale(&img)?.get_pixel(0, 0).0, [76, 76, 76, 7]);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn grayscale(img: &RgbaImage) -> Result<RgbaImage> {
    crate::default_context()?.filter(img, &Filter::Grayscale)
}

/// `255 - x` on R, G and B, on the default context.
///
/// ```
/// let img = image::RgbaImage::from_pixel(1, 1, image::Rgba([0, 10, 255, 3]));
/// assert_eq!(gpu::filter::invert(&img)?.get_pixel(0, 0).0, [255, 245, 0, 3]);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn invert(img: &RgbaImage) -> Result<RgbaImage> {
    crate::default_context()?.filter(img, &Filter::Invert)
}

/// `contrast · x + brightness` on R, G and B, on the default context.
///
/// ```
/// let img = image::RgbaImage::from_pixel(1, 1, image::Rgba([100, 200, 0, 255]));
/// assert_eq!(gpu::filter::brightness_contrast(&img, 1.2, -10.0)?.get_pixel(0, 0).0, [110, 230, 0, 255]);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn brightness_contrast(img: &RgbaImage, contrast: f32, brightness: f32) -> Result<RgbaImage> {
    crate::default_context()?.filter(
        img,
        &Filter::BrightnessContrast {
            contrast,
            brightness,
        },
    )
}

/// Correlation with a square kernel (see [`Filter::Convolve`]), on the
/// default context.
///
/// ```
/// let img = image::RgbaImage::from_pixel(3, 3, image::Rgba([5, 5, 5, 5]));
/// let identity = [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0];
/// assert_eq!(gpu::filter::convolve(&img, 3, &identity)?, img);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn convolve(img: &RgbaImage, size: u32, weights: &[f32]) -> Result<RgbaImage> {
    crate::default_context()?.filter(
        img,
        &Filter::Convolve {
            size,
            weights: weights.to_vec(),
        },
    )
}

/// A row kernel then a column kernel (see [`Filter::Separable`]), on the
/// default context.
///
/// ```
/// let img = image::RgbaImage::from_pixel(3, 3, image::Rgba([8, 8, 8, 8]));
/// assert_eq!(gpu::filter::separable(&img, &[0.5, 0.0, 0.5], &[1.0])?, img);
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn separable(img: &RgbaImage, horizontal: &[f32], vertical: &[f32]) -> Result<RgbaImage> {
    crate::default_context()?.filter(
        img,
        &Filter::Separable {
            horizontal: horizontal.to_vec(),
            vertical: vertical.to_vec(),
        },
    )
}
