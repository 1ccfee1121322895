//! [`Image`]: an RGBA8 image that lives on a backend's device, so that
//! filters applied one after another never bring it back to the host.
//!
//! Made by [`Context::image`](crate::Context::image), it lives where the
//! context runs kernels: a GPU buffer for `Gpu`, host memory for `Cpu` and
//! `Scalar`. `Auto` keeps a mid-size image on both the host and a hardware
//! GPU, where the faster device depends on the filter
//! ([`CostModel::image_placement`]), and each filter on it runs where the
//! cost model estimates it faster (at a near-tie, where its calls were
//! timed faster, first and then now and again: `dispatch::ties`);
//! otherwise it places the image on one device. [`Image::filter`] returns a
//! new image on the device the filter ran on (GPU filters are queued and
//! not waited for); [`Image::to_rgba`] reads it back.

use crate::backend::Backend;
use crate::dispatch::ties::ties;
use crate::dispatch::CostModel;
use crate::error::Result;
use crate::filter::{gpu::DeviceImage, Filter};
use image::RgbaImage;
use std::sync::Arc;

/// An RGBA8 image on a backend's device. Cloning is cheap (the pixels are
/// shared).
///
/// ```
/// use gpu::filter::Filter;
/// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
/// let img = image::RgbaImage::from_pixel(16, 8, image::Rgba([200, 100, 50, 255]));
/// let on_device = ctx.image(&img)?;
/// let out = on_device.filter(&Filter::GaussianBlur { sigma: 1.0 })?.filter(&Filter::Invert)?;
/// assert_eq!(out.to_rgba()?.get_pixel(3, 3).0, [55, 155, 205, 255]);
/// # Ok::<(), gpu::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Image {
    width: u32,
    height: u32,
    backend: Backend,
    pixels: Arc<Pixels>,
}

#[derive(Debug)]
enum Pixels {
    Host(RgbaImage),
    Device(DeviceImage),
    /// The same pixels on the host and a hardware GPU (`Auto`), with the
    /// figures each filter on them chooses its device by.
    Both {
        host: RgbaImage,
        device: DeviceImage,
        cost: Arc<CostModel>,
    },
}

impl Image {
    /// `img` placed on `backend` (`Gpu`, `Cpu` or `Scalar`).
    pub(crate) fn place(backend: Backend, img: &RgbaImage) -> Result<Image> {
        if backend == Backend::Gpu && !is_empty(img) {
            let pixels = Pixels::Device(DeviceImage::upload(img)?);
            Ok(Image::new(backend, img.dimensions(), pixels))
        } else {
            Image::place_owned(backend, img.clone())
        }
    }

    /// Like [`Image::place`], without copying `img` on the host backends.
    pub(crate) fn place_owned(backend: Backend, img: RgbaImage) -> Result<Image> {
        if backend == Backend::Gpu && !is_empty(&img) {
            return Image::place(backend, &img);
        }
        Ok(Image::new(backend, img.dimensions(), Pixels::Host(img)))
    }

    /// `img` kept on the host and uploaded to the shared GPU device
    /// (`Auto`); each filter on it chooses its device by `cost`.
    pub(crate) fn place_on_both(img: RgbaImage, cost: Arc<CostModel>) -> Result<Image> {
        let device = DeviceImage::upload(&img)?;
        let dimensions = img.dimensions();
        let pixels = Pixels::Both {
            host: img,
            device,
            cost,
        };
        Ok(Image::new(Backend::Auto, dimensions, pixels))
    }

    fn new(backend: Backend, (width, height): (u32, u32), pixels: Pixels) -> Image {
        Image {
            width,
            height,
            backend,
            pixels: Arc::new(pixels),
        }
    }

    /// Width in pixels.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// assert_eq!(ctx.image(&image::RgbaImage::new(3, 2))?.width(), 3);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// assert_eq!(ctx.image(&image::RgbaImage::new(3, 2))?.height(), 2);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn height(&self) -> u32 {
        self.height
    }

    /// `(width, height)`.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// assert_eq!(ctx.image(&image::RgbaImage::new(3, 2))?.dimensions(), (3, 2));
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Where the pixels live and filters on them run: `Gpu`, `Cpu` or
    /// `Scalar`, or `Auto` for an image kept on both the host and the GPU
    /// (see [`Context::image`](crate::Context::image)).
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Scalar)?;
    /// assert_eq!(ctx.image(&image::RgbaImage::new(1, 1))?.backend(), gpu::Backend::Scalar);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `filter` applied, into a new image on the same device (for an image
    /// kept on both devices, on the device the filter ran on).
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let img = ctx.image(&image::RgbaImage::from_pixel(2, 2, image::Rgba([0, 0, 0, 255])))?;
    /// assert_eq!(img.filter(&"invert".parse()?)?.to_rgba()?.get_pixel(0, 0).0, [255, 255, 255, 255]);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn filter(&self, filter: &Filter) -> Result<Image> {
        self.filter_chain(std::slice::from_ref(filter))
    }

    /// `filters` applied in order, into a new image on the same device. On
    /// the GPU the intermediate images stay on the device too. An image
    /// kept on both devices runs the whole chain on the device the cost
    /// model estimates faster for it, and the new image lives there. Where
    /// the two estimates are within 30 % of each other, the first ten
    /// calls of chains with those estimates at this size run five on each
    /// device, timed (the GPU's waited for), and the faster is kept until
    /// the next such timing, 8 calls later, then 32, … up to 8192
    /// (`dispatch::ties`); their pixels may differ in rounding between the
    /// devices.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let img = ctx.image(&image::RgbaImage::from_pixel(4, 4, image::Rgba([9, 9, 9, 255])))?;
    /// let chain = gpu::filter::Filter::parse_chain("box:1,invert,invert")?;
    /// assert_eq!(img.filter_chain(&chain)?.to_rgba()?, img.to_rgba()?);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn filter_chain(&self, filters: &[Filter]) -> Result<Image> {
        for f in filters {
            f.validate()?;
        }
        let pixels = self.width as usize * self.height as usize;
        let on_host = |backend, img: &RgbaImage, parallel| {
            Pixels::Host(crate::filter::apply_chain_on_host(
                backend, img, filters, parallel,
            ))
        };
        let (backend, pixels) = match &*self.pixels {
            _ if filters.is_empty() => return Ok(self.clone()),
            Pixels::Device(d) => (self.backend, Pixels::Device(d.apply_chain(filters)?)),
            Pixels::Host(img) if is_empty(img) => return Ok(self.clone()),
            Pixels::Host(img) => (
                self.backend,
                on_host(
                    self.backend,
                    img,
                    crate::filter::cpu_parallel(filters, pixels),
                ),
            ),
            Pixels::Both { host, device, cost } => {
                let (_, (threads, cpu_s), gpu_s) = cost.filters_on_both(filters, pixels);
                let choice = ties().choose("filter", pixels, cpu_s, gpu_s);
                let chosen = choice.backend;
                tracing::debug!(
                    target: "gpu::dispatch",
                    "filters on an image of {pixels} pixels kept on both devices on {chosen}: \
                     cost model: cpu {cpu_s:.2e} s vs gpu {gpu_s:.2e} s{}",
                    if choice.is_trial() { " (a near-tie, timed)" } else { "" }
                );
                let pixels = choice.run(|| {
                    Ok(if chosen == Backend::Gpu {
                        let out = device.apply_chain(filters)?;
                        if choice.waits() {
                            out.wait()?;
                        }
                        Pixels::Device(out)
                    } else {
                        on_host(chosen, host, threads > 1)
                    })
                })?;
                (chosen, pixels)
            }
        };
        Ok(Image {
            backend,
            pixels: Arc::new(pixels),
            ..self.clone()
        })
    }

    /// Blocks until the pixels are computed. GPU filters run asynchronously
    /// after [`Image::filter`] returns (the device's queue keeps them in
    /// order, so later calls need not wait); on the host backends they have
    /// already finished. For timing filters.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let img = ctx.image(&image::RgbaImage::new(8, 8))?;
    /// img.filter(&"sobel".parse()?)?.wait()?;
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn wait(&self) -> Result<()> {
        match &*self.pixels {
            Pixels::Host(_) | Pixels::Both { .. } => Ok(()),
            Pixels::Device(d) => d.wait(),
        }
    }

    /// The pixels, on the host (waits for the filters that make them).
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let img = image::RgbaImage::from_pixel(2, 1, image::Rgba([1, 2, 3, 4]));
    /// assert_eq!(ctx.image(&img)?.to_rgba()?, img);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn to_rgba(&self) -> Result<RgbaImage> {
        match &*self.pixels {
            Pixels::Host(img) | Pixels::Both { host: img, .. } => Ok(img.clone()),
            Pixels::Device(d) => d.download(),
        }
    }

    /// The pixels, on the host, like [`Image::to_rgba`]; on the host
    /// backends this moves them out without a copy when no clone of the
    /// image shares them.
    ///
    /// ```
    /// let ctx = gpu::Context::new(gpu::Backend::Cpu)?;
    /// let img = image::RgbaImage::from_pixel(2, 1, image::Rgba([1, 2, 3, 4]));
    /// let inverted = ctx.image(&img)?.filter(&"invert".parse()?)?;
    /// assert_eq!(inverted.into_rgba()?.get_pixel(0, 0).0, [254, 253, 252, 4]);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn into_rgba(self) -> Result<RgbaImage> {
        match Arc::try_unwrap(self.pixels) {
            Ok(Pixels::Host(img)) | Ok(Pixels::Both { host: img, .. }) => Ok(img),
            Ok(Pixels::Device(d)) => d.download(),
            Err(shared) => Image {
                pixels: shared,
                ..self
            }
            .to_rgba(),
        }
    }
}

/// Where `filters` on `image` run once no more of them are timed: for an
/// image kept on both devices, the device the model or the latest look at
/// a near-tie settled on, without running or counting a call (for the
/// benchmark's `chose` column). Not API.
#[doc(hidden)]
pub fn filters_backend(image: &Image, filters: &[Filter]) -> Backend {
    match &*image.pixels {
        Pixels::Both { cost, .. } if !filters.is_empty() => {
            let pixels = image.width as usize * image.height as usize;
            let (_, (_, cpu_s), gpu_s) = cost.filters_on_both(filters, pixels);
            ties().settled("filter", pixels, cpu_s, gpu_s)
        }
        _ => image.backend,
    }
}

fn is_empty(img: &RgbaImage) -> bool {
    img.width() == 0 || img.height() == 0
}
