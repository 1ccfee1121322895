//! [`Filter`]: image filters as data, with a compact text form.
//!
//! Every filter's meaning is the OpenCV call named on its variant, with
//! `BORDER_REPLICATE`; `scripts/make_goldens.py` is the executable version of
//! these definitions and makes the golden images the tests compare against.

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// The widest kernel radius a filter may have, in pixels: a kernel side of
/// at most `2·MAX_RADIUS + 1`. A Gaussian's radius is `ceil(3·sigma)`, so
/// sigma may be at most `MAX_RADIUS / 3`. Past this, a filter's weights
/// and its cost (radius × pixels) grow beyond any use: `blur:1e9` would ask
/// for gigabytes of weights, so [`Filter::validate`] refuses it instead.
pub const MAX_RADIUS: usize = 4096;

/// An image filter on 8-bit RGBA images.
///
/// Blurs and convolutions filter all four channels, as OpenCV does on a
/// four-channel image; the colour filters (`Sharpen`, `Sobel`, `Grayscale`,
/// `Invert`, `BrightnessContrast`) change RGB and pass alpha through.
/// Results are rounded to nearest and saturated to `0..=255`.
///
/// ```
/// use gpu::filter::Filter;
/// let f: Filter = "blur:3".parse()?;
/// assert_eq!(f, Filter::GaussianBlur { sigma: 3.0 });
/// assert_eq!(f.to_string(), "blur:3");
/// let chain = Filter::parse_chain("box:2,sharpen:1.5:2,sobel")?;
/// assert_eq!(chain.len(), 3);
/// # Ok::<(), gpu::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Filter {
    /// `cv2.GaussianBlur(img, (k, k), sigma)` with radius `ceil(3·sigma)`,
    /// `k = 2·radius + 1`. Text: `blur:SIGMA`.
    GaussianBlur {
        /// Standard deviation in pixels; finite and positive.
        sigma: f32,
    },
    /// `cv2.blur(img, (2r+1, 2r+1))`: the mean over a square. Radius 0 is
    /// the identity. Text: `box:RADIUS`.
    BoxBlur {
        /// Half the side of the square, in pixels.
        radius: u32,
    },
    /// Unsharp mask: `cv2.addWeighted(img, 1 + amount, blurred, -amount, 0)`
    /// computed in `f32`, with `blurred` the Gaussian blur of the `f32`
    /// image (not rounded to 8 bits), then rounded once.
    /// Text: `sharpen:AMOUNT:SIGMA`.
    Sharpen {
        /// How much of the detail to add back; finite and non-negative.
        amount: f32,
        /// The blur's standard deviation; finite and positive.
        sigma: f32,
    },
    /// Gradient magnitude of luma: `cv2.magnitude` of the 3×3 `cv2.Sobel`
    /// derivatives (`CV_32F`) of the `Grayscale` luma, rounded. Text: `sobel`.
    Sobel,
    /// Luma with OpenCV's weights (`cv2.COLOR_RGBA2GRAY`: 0.299 R + 0.587 G +
    /// 0.114 B, in 15-bit fixed point, bit-exact), written to R, G and B.
    /// Text: `grayscale`.
    Grayscale,
    /// `255 - x` on R, G and B. Text: `invert`.
    Invert,
    /// `contrast · x + brightness` on R, G and B (as `Mat::convertTo`).
    /// Text: `bc:CONTRAST:BRIGHTNESS`.
    BrightnessContrast {
        /// Gain; finite.
        contrast: f32,
        /// Offset in 8-bit units; finite.
        brightness: f32,
    },
    /// `cv2.filter2D(img, -1, kernel)`: correlation with a square kernel of
    /// odd side `size`, anchored at its centre, row-major weights.
    /// Text: `conv:SIZE:w1,w2,…`.
    Convolve {
        /// Side of the kernel; odd.
        size: u32,
        /// `size²` finite weights, row by row.
        weights: Vec<f32>,
    },
    /// `cv2.sepFilter2D(img, -1, horizontal, vertical)`: a row kernel then a
    /// column kernel, each of odd length, anchored at its centre.
    /// Text: `sep:h1,h2,…:v1,v2,…`.
    Separable {
        /// Weights along x.
        horizontal: Vec<f32>,
        /// Weights along y.
        vertical: Vec<f32>,
    },
}

/// An invalid-filter error. A filter's text past `SPEC_SHOWN` characters
/// (thousands of kernel weights) is cut, with the length it had.
fn invalid(spec: &str, reason: impl Into<String>) -> Error {
    const SPEC_SHOWN: usize = 60;
    let spec = match spec.char_indices().nth(SPEC_SHOWN) {
        Some((cut, _)) => format!("{}… ({} characters)", &spec[..cut], spec.chars().count()),
        None => spec.to_string(),
    };
    Error::InvalidFilter {
        spec,
        reason: reason.into(),
    }
}

fn number(spec: &str, what: &str, text: &str) -> Result<f32> {
    text.trim()
        .parse::<f32>()
        .map_err(|_| invalid(spec, format!("{what} {text:?} is not a number")))
}

fn numbers(spec: &str, what: &str, text: &str) -> Result<Vec<f32>> {
    text.split(',').map(|t| number(spec, what, t)).collect()
}

impl Filter {
    /// Parses a chain of filters separated by commas that start a new filter
    /// name (`blur:3,sobel`); the commas inside `conv` and `sep` weights
    /// belong to those filters.
    ///
    /// ```
    /// let chain = gpu::filter::Filter::parse_chain("conv:3:0,0,0,0,1,0,0,0,0,invert")?;
    /// assert_eq!(chain.len(), 2);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn parse_chain(text: &str) -> Result<Vec<Filter>> {
        let mut parts = Vec::new();
        let mut start = 0;
        let bytes = text.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if b == b',' && bytes.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic()) {
                parts.push(&text[start..i]);
                start = i + 1;
            }
        }
        parts.push(&text[start..]);
        parts.into_iter().map(str::parse).collect()
    }

    /// Checks the parameters: finite, positive where needed, odd kernel
    /// sizes, and a kernel radius of at most [`MAX_RADIUS`] pixels.
    ///
    /// ```
    /// use gpu::filter::{Filter, spec::MAX_RADIUS};
    /// assert!(Filter::GaussianBlur { sigma: 0.0 }.validate().is_err());
    /// assert!(Filter::GaussianBlur { sigma: 1.5 }.validate().is_ok());
    /// assert!(Filter::BoxBlur { radius: MAX_RADIUS as u32 }.validate().is_ok());
    /// let err = Filter::BoxBlur { radius: 4_000_000_000 }.validate().unwrap_err();
    /// assert!(err.to_string().contains("4000000000"), "{err}");
    /// assert!(Filter::GaussianBlur { sigma: 1e18 }.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        let spec = self.to_string();
        let positive = |what: &str, v: f32| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(invalid(
                    &spec,
                    format!("{what} must be finite and positive, got {v}"),
                ))
            }
        };
        let finite = |what: &str, v: &[f32]| match v.iter().find(|x| !x.is_finite()) {
            Some(x) => Err(invalid(&spec, format!("{what} must be finite, got {x}"))),
            None => Ok(()),
        };
        let odd = |what: &str, n: usize| {
            if n.is_multiple_of(2) {
                Err(invalid(
                    &spec,
                    format!("{what} must have an odd length, got {n}"),
                ))
            } else if n / 2 > MAX_RADIUS {
                Err(invalid(
                    &spec,
                    format!(
                        "{what} must have a radius of at most {MAX_RADIUS}, got {}",
                        n / 2
                    ),
                ))
            } else {
                Ok(())
            }
        };
        let radius_at_most = |radius: u32| {
            if radius as usize <= MAX_RADIUS {
                Ok(())
            } else {
                Err(invalid(
                    &spec,
                    format!("radius must be at most {MAX_RADIUS}, got {radius}"),
                ))
            }
        };
        let sigma_fits = |sigma: f32| {
            positive("sigma", sigma)?;
            if (3.0 * sigma as f64).ceil() <= MAX_RADIUS as f64 {
                Ok(())
            } else {
                Err(invalid(
                    &spec,
                    format!(
                        "sigma must be at most {MAX_RADIUS}/3 (a radius ceil(3·sigma) of at most {MAX_RADIUS}), got {sigma}"
                    ),
                ))
            }
        };
        match self {
            Filter::GaussianBlur { sigma } => sigma_fits(*sigma),
            Filter::Sharpen { amount, sigma } => {
                sigma_fits(*sigma)?;
                if amount.is_finite() && *amount >= 0.0 {
                    Ok(())
                } else {
                    Err(invalid(
                        &spec,
                        format!("amount must be finite and non-negative, got {amount}"),
                    ))
                }
            }
            Filter::BrightnessContrast {
                contrast,
                brightness,
            } => finite("contrast and brightness", &[*contrast, *brightness]),
            Filter::Convolve { size, weights } => {
                odd("the kernel side", *size as usize)?;
                let expected = (*size as usize).pow(2);
                if weights.len() != expected {
                    return Err(invalid(
                        &spec,
                        format!(
                            "a {size}x{size} kernel needs {expected} weights, got {}",
                            weights.len()
                        ),
                    ));
                }
                finite("weights", weights)
            }
            Filter::Separable {
                horizontal,
                vertical,
            } => {
                odd("the horizontal kernel", horizontal.len())?;
                odd("the vertical kernel", vertical.len())?;
                finite("weights", horizontal)?;
                finite("weights", vertical)
            }
            Filter::BoxBlur { radius } => radius_at_most(*radius),
            Filter::Sobel | Filter::Grayscale | Filter::Invert => Ok(()),
        }
    }

    /// Rough work per pixel, in additions, for the dispatcher's estimate of
    /// the GPU's time where the GPU's filters were not measured
    /// ([`crate::dispatch::GpuFilterCosts`]). (The CPU's time comes from
    /// measured per-pixel costs: [`crate::dispatch::FilterCosts`].)
    pub fn work_per_pixel(&self) -> f64 {
        4.0 * match self {
            Filter::GaussianBlur { sigma } => 4.0 * (3.0 * *sigma as f64).ceil() + 2.0,
            Filter::BoxBlur { radius } => 4.0 * *radius as f64 + 2.0,
            Filter::Sharpen { sigma, .. } => 4.0 * (3.0 * *sigma as f64).ceil() + 4.0,
            Filter::Convolve { size, .. } => (*size as f64).powi(2),
            Filter::Separable {
                horizontal,
                vertical,
            } => (horizontal.len() + vertical.len()) as f64,
            Filter::Sobel => 12.0,
            Filter::Grayscale | Filter::Invert | Filter::BrightnessContrast { .. } => 1.0,
        }
    }

    /// Whether the filter reads neighbouring pixels (as opposed to a
    /// per-pixel colour transform).
    pub fn is_spatial(&self) -> bool {
        !matches!(
            self,
            Filter::Grayscale | Filter::Invert | Filter::BrightnessContrast { .. }
        )
    }
}

impl FromStr for Filter {
    type Err = Error;

    /// Parses the text form (see each variant), and validates it.
    fn from_str(text: &str) -> Result<Filter> {
        let spec = text.trim();
        let mut fields = spec.splitn(2, ':');
        let name = fields.next().unwrap_or_default().to_ascii_lowercase();
        let rest = fields.next();
        let args = |n: usize| -> Result<Vec<&str>> {
            let parts: Vec<&str> = match rest {
                None => Vec::new(),
                Some(r) => r.splitn(n.max(1), ':').collect(),
            };
            if parts.len() == n {
                Ok(parts)
            } else {
                Err(invalid(
                    spec,
                    format!(
                        "{name} takes {n} parameter(s) separated by ':', got {}",
                        parts.len()
                    ),
                ))
            }
        };
        let filter = match name.as_str() {
            "blur" | "gaussian" => Filter::GaussianBlur {
                sigma: number(spec, "sigma", args(1)?[0])?,
            },
            "box" => {
                let r = args(1)?[0].trim();
                Filter::BoxBlur {
                    radius: r
                        .parse()
                        .map_err(|_| invalid(spec, format!("radius {r:?} is not a whole number")))?,
                }
            }
            "sharpen" => {
                let a = args(2)?;
                Filter::Sharpen {
                    amount: number(spec, "amount", a[0])?,
                    sigma: number(spec, "sigma", a[1])?,
                }
            }
            "sobel" => {
                args(0)?;
                Filter::Sobel
            }
            "grayscale" | "gray" => {
                args(0)?;
                Filter::Grayscale
            }
            "invert" => {
                args(0)?;
                Filter::Invert
            }
            "bc" => {
                let a = args(2)?;
                Filter::BrightnessContrast {
                    contrast: number(spec, "contrast", a[0])?,
                    brightness: number(spec, "brightness", a[1])?,
                }
            }
            "conv" => {
                let a = args(2)?;
                let size = a[0]
                    .trim()
                    .parse()
                    .map_err(|_| invalid(spec, format!("kernel side {:?} is not a whole number", a[0])))?;
                Filter::Convolve {
                    size,
                    weights: numbers(spec, "weight", a[1])?,
                }
            }
            "sep" => {
                let a = args(2)?;
                Filter::Separable {
                    horizontal: numbers(spec, "weight", a[0])?,
                    vertical: numbers(spec, "weight", a[1])?,
                }
            }
            _ => {
                return Err(invalid(
                    spec,
                    "unknown filter; known: blur:SIGMA, box:RADIUS, sharpen:AMOUNT:SIGMA, sobel, grayscale, invert, \
                     bc:CONTRAST:BRIGHTNESS, conv:SIZE:WEIGHTS, sep:HWEIGHTS:VWEIGHTS",
                ))
            }
        };
        filter.validate()?;
        Ok(filter)
    }
}

fn list(f: &mut fmt::Formatter<'_>, v: &[f32]) -> fmt::Result {
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{x}")?;
    }
    Ok(())
}

impl fmt::Display for Filter {
    /// The text form, which parses back to the same filter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::GaussianBlur { sigma } => write!(f, "blur:{sigma}"),
            Filter::BoxBlur { radius } => write!(f, "box:{radius}"),
            Filter::Sharpen { amount, sigma } => write!(f, "sharpen:{amount}:{sigma}"),
            Filter::Sobel => f.write_str("sobel"),
            Filter::Grayscale => f.write_str("grayscale"),
            Filter::Invert => f.write_str("invert"),
            Filter::BrightnessContrast {
                contrast,
                brightness,
            } => write!(f, "bc:{contrast}:{brightness}"),
            Filter::Convolve { size, weights } => {
                write!(f, "conv:{size}:")?;
                list(f, weights)
            }
            Filter::Separable {
                horizontal,
                vertical,
            } => {
                f.write_str("sep:")?;
                list(f, horizontal)?;
                f.write_str(":")?;
                list(f, vertical)
            }
        }
    }
}
