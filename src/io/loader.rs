//! [`Loader`]: many files (or any async byte sources) loaded concurrently
//! into arrays and images, yielded as a `Stream` in completion order.
//!
//! Each source is read in 1 MiB pieces on tokio. Values (raw `f32`, `.npy`)
//! are converted piece by piece and pushed into their array as they arrive:
//! on the GPU through wgpu's staging memory into device buffers, so that
//! reading one file overlaps uploading another. Images are read whole
//! (into a buffer of the file's size, when it has one), decoded on rayon's
//! pool, off the async threads (see `cpu_task`), and
//! placed on the device as an [`Image`](crate::Image). An `Auto` loader's
//! first placement, which may open the GPU device, and an image's upload
//! run on tokio's blocking pool, so that no async or core's worker waits
//! for them; an array's pieces are handed to wgpu from the async workers
//! (it copies them into staging memory and returns). At most
//! `concurrency` sources are in flight, and the stream only starts a new one
//! when it is polled, so memory grows with the concurrency, not with the
//! number of sources. Dropping the stream drops the loads in flight.

use super::cpu_task::{on_cores, timed, waiting};
use super::image_file;
use super::npy::{self, HeaderError};
use crate::array::{Array, ArrayBuilder};
use crate::backend::gpu::transfer::with_serial_copies;
use crate::backend::Backend;
use crate::context::Context;
use crate::error::{Error, Result};
use futures_util::stream::{self, Stream, StreamExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes read per call.
const PIECE: usize = 1 << 20;

/// What a source holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// From the extension (`.npy`; `.f32`, `.raw`, `.bin`; `.png`, `.jpg`,
    /// `.jpeg`), else from the first bytes (`.npy`, PNG and JPEG magic).
    #[default]
    Auto,
    /// Little-endian `f32` values, nothing else.
    RawF32,
    /// NumPy `.npy`; see [`crate::io`] for the element types read.
    Npy,
    /// A PNG or JPEG image, decoded to RGBA8.
    Image,
}

/// A loaded source: arrays for values, images for pictures.
#[derive(Debug)]
pub enum Item {
    /// Values in an [`Array`] on the loader's backend, with the shape the
    /// file gave (`[len]` for raw files).
    Values {
        /// The values.
        array: Array,
        /// The shape (C order).
        shape: Vec<usize>,
        /// What the source held: [`Format::Npy`] or [`Format::RawF32`].
        format: Format,
    },
    /// A decoded image, on the loader's backend's device.
    Image(crate::Image),
}

/// One source's outcome.
#[derive(Debug)]
pub struct Loaded {
    /// Position of the source in the list given to the loader.
    pub index: usize,
    /// The path, or the name given with a reader.
    pub name: String,
    /// The item, or why it could not be loaded (the error names `name`).
    pub result: Result<Item>,
}

/// Loads many sources concurrently. Cheap to clone.
///
/// ```
/// use futures_util::StreamExt;
/// let dir = std::env::temp_dir().join("gpu-compute-doctest-loader");
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(dir.join("a.f32"), [1f32, 2.0].map(f32::to_le_bytes).concat())?;
/// let loader = gpu::io::Loader::new(gpu::Backend::Cpu)?.concurrency(4);
/// let rt = tokio::runtime::Runtime::new()?;
/// let loaded: Vec<_> = rt.block_on(loader.load_paths([dir.join("a.f32"), dir.join("missing.f32")]).collect());
/// assert_eq!(loaded.len(), 2);
/// for item in loaded {
///     match item.result {
///         Ok(gpu::io::Item::Values { array, .. }) => assert_eq!(array.sum()?, 3.0),
///         Ok(_) => unreachable!(),
///         Err(e) => assert!(e.to_string().contains("missing.f32")),
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Loader {
    ctx: Arc<Context>,
    concurrency: usize,
    format: Format,
}

impl Loader {
    /// A loader whose arrays and images live on `backend`, loading 8
    /// sources at a time. `Auto` puts each array on one device, where a
    /// light map on it is estimated faster, and each image where a small
    /// Gaussian blur is. Loaded data is never kept on both devices, unlike
    /// that of [`Context::array`] and [`Context::image`]: a batch would
    /// otherwise upload every mid-size image, also those its filters then
    /// run on the CPU. An error if `backend` is `Gpu` and there is no
    /// adapter.
    ///
    /// ```
    /// let loader = gpu::io::Loader::new(gpu::Backend::Scalar)?;
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn new(backend: Backend) -> Result<Loader> {
        Ok(Loader {
            ctx: Arc::new(Context::new(backend)?),
            concurrency: 8,
            format: Format::Auto,
        })
    }

    /// At most `n` sources in flight (at least 1).
    ///
    /// ```
    /// let loader = gpu::io::Loader::new(gpu::Backend::Cpu)?.concurrency(2);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn concurrency(mut self, n: usize) -> Loader {
        self.concurrency = n.max(1);
        self
    }

    /// Every source is `format` (default: [`Format::Auto`]).
    ///
    /// ```
    /// let loader = gpu::io::Loader::new(gpu::Backend::Cpu)?.format(gpu::io::Format::Npy);
    /// # Ok::<(), gpu::Error>(())
    /// ```
    pub fn format(mut self, format: Format) -> Loader {
        self.format = format;
        self
    }

    /// Loads every path; one [`Loaded`] per path, in completion order.
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// let loader = gpu::io::Loader::new(gpu::Backend::Cpu)?;
    /// let rt = tokio::runtime::Runtime::new()?;
    /// let first = rt.block_on(loader.load_paths(["/no/such.npy"]).next()).unwrap();
    /// assert!(first.result.is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_paths<P: Into<PathBuf>>(
        &self,
        paths: impl IntoIterator<Item = P>,
    ) -> impl Stream<Item = Loaded> + Send + 'static {
        let paths: Vec<PathBuf> = paths.into_iter().map(Into::into).collect();
        let loader = self.clone();
        stream::iter(paths.into_iter().enumerate())
            .map(move |(index, path)| {
                let loader = loader.clone();
                async move {
                    let name = path.display().to_string();
                    let result = loader.load_path(&path, &mut Duration::default()).await;
                    Loaded {
                        index,
                        name,
                        result,
                    }
                }
            })
            .buffer_unordered(self.concurrency)
    }

    /// Loads every `(name, reader)` pair (a socket, an HTTP body, …); the
    /// name stands for the source in errors and picks the format like a
    /// file name would. One [`Loaded`] per source, in completion order.
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// let bytes: Vec<u8> = [4f32, 5.0].map(f32::to_le_bytes).concat();
    /// let loader = gpu::io::Loader::new(gpu::Backend::Cpu)?;
    /// let rt = tokio::runtime::Runtime::new()?;
    /// let got = rt.block_on(loader.load_readers([("socket.f32", std::io::Cursor::new(bytes))]).next()).unwrap();
    /// let Ok(gpu::io::Item::Values { array, .. }) = got.result else { panic!() };
    /// assert_eq!(array.to_vec()?, vec![4.0, 5.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_readers<N, R>(
        &self,
        sources: impl IntoIterator<Item = (N, R)>,
    ) -> impl Stream<Item = Loaded> + Send + 'static
    where
        N: Into<String>,
        R: AsyncRead + Send + Unpin + 'static,
    {
        let sources: Vec<(String, R)> = sources.into_iter().map(|(n, r)| (n.into(), r)).collect();
        let loader = self.clone();
        stream::iter(sources.into_iter().enumerate())
            .map(move |(index, (name, reader))| {
                let loader = loader.clone();
                async move {
                    let result = loader
                        .load_reader(&name, reader, None, &mut Duration::default())
                        .await;
                    Loaded {
                        index,
                        name,
                        result,
                    }
                }
            })
            .buffer_unordered(self.concurrency)
    }

    /// Loads one file, adding to `busy` the time spent converting and
    /// decoding it (reading not included).
    pub(crate) async fn load_path(&self, path: &Path, busy: &mut Duration) -> Result<Item> {
        let name = path.display().to_string();
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| file_error(&name, e))?;
        let meta = file.metadata().await.map_err(|e| file_error(&name, e))?;
        if meta.is_dir() {
            return Err(file_error(&name, "is a directory, not a file"));
        }
        // Pipes and kernel files report no real length: read them as streams.
        let size = meta.is_file().then_some(meta.len());
        self.load_reader(&name, file, size, busy).await
    }

    /// Loads `reader`'s item; every error names `name` (a device's error
    /// is wrapped in one that does).
    async fn load_reader<R: AsyncRead + Unpin>(
        &self,
        name: &str,
        reader: R,
        size: Option<u64>,
        busy: &mut Duration,
    ) -> Result<Item> {
        match self.read_item(name, reader, size, busy).await {
            Err(e @ (Error::File { .. } | Error::Image { .. })) => Err(e),
            Err(e) => Err(file_error(name, e)),
            ok => ok,
        }
    }

    async fn read_item<R: AsyncRead + Unpin>(
        &self,
        name: &str,
        mut reader: R,
        size: Option<u64>,
        busy: &mut Duration,
    ) -> Result<Item> {
        // A file of known size is read into a buffer of its size (and one
        // byte to see its end): from the start for an image, which is read
        // whole, else up to a piece; a stream, in pieces.
        let image = match self.format {
            Format::Auto => by_extension(name) == Some(Format::Image),
            f => f == Format::Image,
        };
        if let Some(s) = size.filter(|&s| image && s > image_file::MAX_FILE_BYTES) {
            return Err(image_file::too_large(name, s));
        }
        let mut buf = Vec::with_capacity(match size {
            Some(s) if image => s as usize + 1,
            Some(s) => PIECE.min(s as usize + 1),
            None => PIECE,
        });
        // Enough bytes to recognise the format (a stream may deliver fewer).
        while buf.len() < 8 {
            if read_piece(&mut reader, &mut buf, name).await? == 0 {
                break;
            }
        }
        if buf.is_empty() {
            return Err(file_error(name, "the file is empty"));
        }
        let format = match self.format {
            Format::Auto => detect(name, &buf)?,
            f => f,
        };
        match format {
            Format::Image => {
                match size {
                    Some(s) if s > image_file::MAX_FILE_BYTES => {
                        return Err(image_file::too_large(name, s))
                    }
                    Some(s) => buf.reserve_exact((s as usize + 1).saturating_sub(buf.len())),
                    None => {}
                }
                while read_piece(&mut reader, &mut buf, name).await? > 0 {
                    // A stream: stop once it is longer than any image may be.
                    if buf.len() as u64 > image_file::MAX_FILE_BYTES {
                        return Err(image_file::too_large(name, buf.len() as u64));
                    }
                }
                let owned = name.to_string();
                let decode = move || super::image_file::decode(Path::new(&owned), &buf);
                let (img, decoding) = on_cores(name, timed(decode)).await?;
                let n = img.width() as usize * img.height() as usize;
                // Placed here when that is known to keep it on the host;
                // else on tokio's blocking pool, since placing may open the
                // GPU device and uploading waits for it (its staging copies
                // stay on that thread, see `with_serial_copies`).
                let known = (!self.may_open_device()).then(|| self.ctx.place_image("load", n));
                let (img, placing) = match known {
                    Some(host) if host != Backend::Gpu => {
                        timed(move || crate::Image::place_owned(host, img))()?
                    }
                    _ => {
                        let ctx = self.ctx.clone();
                        let place = move || {
                            let backend = known.unwrap_or_else(|| ctx.place_image("load", n));
                            with_serial_copies(|| crate::Image::place_owned(backend, img))
                        };
                        waiting(name, timed(place)).await?
                    }
                };
                *busy += decoding + placing;
                Ok(Item::Image(img))
            }
            Format::Npy => self.load_npy(name, reader, buf, size, busy).await,
            Format::RawF32 | Format::Auto => self.load_raw(name, reader, buf, size, busy).await,
        }
    }

    async fn load_npy<R: AsyncRead + Unpin>(
        &self,
        name: &str,
        mut reader: R,
        mut buf: Vec<u8>,
        size: Option<u64>,
        busy: &mut Duration,
    ) -> Result<Item> {
        let header = loop {
            match npy::parse_header(&buf) {
                Ok(h) => break h,
                Err(HeaderError::NeedBytes(_)) => {
                    if read_piece(&mut reader, &mut buf, name).await? == 0 {
                        return Err(file_error(name, "truncated .npy header"));
                    }
                }
                Err(HeaderError::Invalid(why)) => return Err(file_error(name, why)),
            }
        };
        let item = header.dtype.size();
        let shape_text = format!("{:?}", header.shape);
        let (len, expected) = header
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .and_then(|len| Some((len, len.checked_mul(item)?)))
            .ok_or_else(|| file_error(name, format!("the shape {shape_text} is too large")))?;
        let length_error = |total: usize| {
            file_error(
                name,
                format!(
                    "{}: the header says {len} values of {item} bytes ({expected} bytes) but {total} bytes of data follow",
                    if total < expected { "truncated" } else { "trailing data" }
                ),
            )
        };
        buf.drain(..header.data_offset);
        // Check the length before allocating the array: a header must not
        // make us reserve more than the file holds.
        match size {
            Some(file) => {
                let data = file.saturating_sub(header.data_offset as u64) as usize;
                if data != expected {
                    return Err(length_error(data));
                }
            }
            None => {
                crate::host_pool::check_host_room(len).map_err(|why| {
                    file_error(name, format!("cannot hold its {len} values: {why}"))
                })?;
                // A stream of unknown length: gather its data first (as much
                // as it really sends, and at most what the header says).
                while buf.len() <= expected {
                    if read_piece(&mut reader, &mut buf, name).await? == 0 {
                        break;
                    }
                }
                if buf.len() != expected {
                    return Err(length_error(buf.len()));
                }
            }
        }
        let (builder, total) = self
            .stream_values(
                name,
                reader,
                buf,
                len,
                (header.dtype, header.big_endian),
                busy,
            )
            .await?;
        if total != expected {
            return Err(length_error(total));
        }
        Ok(Item::Values {
            array: builder.finish()?,
            shape: header.shape,
            format: Format::Npy,
        })
    }

    async fn load_raw<R: AsyncRead + Unpin>(
        &self,
        name: &str,
        mut reader: R,
        mut buf: Vec<u8>,
        size: Option<u64>,
        busy: &mut Duration,
    ) -> Result<Item> {
        let not_whole = |bytes: u64| {
            file_error(
                name,
                format!("truncated: {bytes} bytes is not a whole number of 4-byte f32 values"),
            )
        };
        let len = match size {
            Some(size) if size % 4 != 0 => return Err(not_whole(size)),
            Some(size) => usize::try_from(size / 4).map_err(|_| {
                file_error(
                    name,
                    format!("{size} bytes are more than this platform can address"),
                )
            })?,
            None => {
                // A stream of unknown length: gather it first.
                while read_piece(&mut reader, &mut buf, name).await? > 0 {}
                if !buf.len().is_multiple_of(4) {
                    return Err(not_whole(buf.len() as u64));
                }
                buf.len() / 4
            }
        };
        let (builder, total) = self
            .stream_values(name, reader, buf, len, (npy::Dtype::F32, false), busy)
            .await?;
        if total != len * 4 {
            return Err(file_error(
                name,
                format!(
                    "the file changed while it was read ({} bytes, then {total})",
                    len * 4
                ),
            ));
        }
        Ok(Item::Values {
            array: builder.finish()?,
            shape: vec![len],
            format: Format::RawF32,
        })
    }

    /// Reads the rest of `reader` after `pending` (bytes already read),
    /// converting whole elements into a new array of `len` values as they
    /// arrive (`element`: their type, and whether big-endian), adding the
    /// time spent converting to `busy`. Returns the array's builder, full
    /// unless the data ran short, and how many data bytes there were in all.
    async fn stream_values<R: AsyncRead + Unpin>(
        &self,
        name: &str,
        mut reader: R,
        mut pending: Vec<u8>,
        len: usize,
        (dtype, big_endian): (npy::Dtype, bool),
        busy: &mut Duration,
    ) -> Result<(ArrayBuilder, usize)> {
        let size = dtype.size();
        let mut builder = self.builder(len, name).await?;
        let mut converted = Vec::new();
        let mut total = pending.len();
        loop {
            let whole = (pending.len() / size * size).min(builder.remaining() * size);
            let t = Instant::now();
            builder.push_elements(dtype, big_endian, &pending[..whole], &mut converted)?;
            pending.drain(..whole);
            *busy += t.elapsed();
            if builder.remaining() == 0 && !pending.is_empty() {
                // More data than expected: the caller reports it; reading
                // on would only buffer it.
                return Ok((builder, total));
            }
            let read = read_piece(&mut reader, &mut pending, name).await?;
            total += read;
            if read == 0 {
                return Ok((builder, total));
            }
        }
    }

    /// A builder for the `len` values of `name`, where the context places
    /// them: on tokio's blocking pool while placing may open the GPU device
    /// (seconds, the first time), never on an async worker that other
    /// loads are waiting on.
    async fn builder(&self, len: usize, name: &str) -> Result<ArrayBuilder> {
        let ctx = self.ctx.clone();
        let owned = name.to_string();
        let make = move || ArrayBuilder::new(ctx.place_array("load", len), len, &owned);
        if self.may_open_device() {
            waiting(name, make).await
        } else {
            make()
        }
    }

    /// Whether placing data may open the GPU device: a context that may
    /// use it, before anything has tried to open it.
    fn may_open_device(&self) -> bool {
        matches!(self.ctx.backend(), Backend::Gpu | Backend::Auto)
            && !crate::backend::gpu::device::touched()
    }
}

/// Reads up to [`PIECE`] more bytes onto the end of `buf` (into its spare
/// capacity: nothing is zeroed first, and `buf` only grows when it is
/// full); 0 at the end.
async fn read_piece<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    name: &str,
) -> Result<usize> {
    if buf.len() == buf.capacity() {
        buf.try_reserve(PIECE).map_err(|e| {
            file_error(
                name,
                format!("holding {} bytes of it in memory: {e}", buf.len() + PIECE),
            )
        })?;
    }
    let spare = buf.capacity() - buf.len();
    let mut limited = (&mut *reader).take(spare.min(PIECE) as u64);
    limited.read_buf(buf).await.map_err(|e| file_error(name, e))
}

/// The format `name`'s extension names, if any.
fn by_extension(name: &str) -> Option<Format> {
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "npy" => Some(Format::Npy),
        "f32" | "raw" | "bin" => Some(Format::RawF32),
        "png" | "jpg" | "jpeg" => Some(Format::Image),
        _ => None,
    }
}

/// The format of `name`, from its extension, else from its first bytes.
fn detect(name: &str, first: &[u8]) -> Result<Format> {
    if let Some(format) = by_extension(name) {
        return Ok(format);
    }
    if first.starts_with(b"\x93NUMPY") {
        Ok(Format::Npy)
    } else if first.starts_with(b"\x89PNG") || first.starts_with(&[0xff, 0xd8, 0xff]) {
        Ok(Format::Image)
    } else {
        Err(file_error(
            name,
            "unknown format: use a .npy, .f32 (raw little-endian f32), .png or .jpg name, or set Loader::format",
        ))
    }
}

pub(crate) fn file_error(name: &str, reason: impl std::fmt::Display) -> Error {
    Error::File {
        path: name.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read fills the buffer's spare capacity before growing it, so that
    /// a file read into a buffer of its size is never copied into a larger
    /// one.
    #[test]
    fn reads_fill_the_spare_capacity_first() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let data: Vec<u8> = (0..=255).collect();
        let mut reader = std::io::Cursor::new(data.clone());
        let mut buf = Vec::with_capacity(data.len() + 1);
        let capacity = buf.capacity();
        let read = rt.block_on(read_piece(&mut reader, &mut buf, "x")).unwrap();
        assert_eq!((read, buf.capacity()), (data.len(), capacity));
        let end = rt.block_on(read_piece(&mut reader, &mut buf, "x")).unwrap();
        assert_eq!(
            (end, buf.capacity()),
            (0, capacity),
            "the end, seen with one spare byte"
        );
        assert_eq!(buf, data);
        // A full buffer grows by a piece.
        let mut reader = std::io::Cursor::new(vec![7u8; 10]);
        let mut full = vec![1u8; 4];
        full.shrink_to_fit();
        let read = rt
            .block_on(read_piece(&mut reader, &mut full, "x"))
            .unwrap();
        assert_eq!(read, 10);
        assert!(full.capacity() >= 4 + PIECE);
    }
}
