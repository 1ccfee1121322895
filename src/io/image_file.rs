//! Images on disk: PNG and JPEG, decoded to and encoded from RGBA8.

use crate::error::{Error, Result};
use image::RgbaImage;
use std::io::Write;
use std::path::Path;

fn image_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Image {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Largest image file read, in bytes: 512 MiB, the `image` crate's default
/// limit on what decoding one image may allocate. A deliberate limit: a
/// file this large would be read whole into memory before decoding, and
/// nearly every such file decodes past the decoder's limit anyway.
pub(crate) const MAX_FILE_BYTES: u64 = 512 << 20;

/// The error for an image file of `bytes` bytes (or more), over
/// [`MAX_FILE_BYTES`].
pub(crate) fn too_large(name: &str, bytes: u64) -> Error {
    Error::Image {
        path: name.to_string(),
        reason: format!("{bytes} bytes, over the {MAX_FILE_BYTES} an image file may have"),
    }
}

/// Reads an image file (PNG or JPEG, recognised by its contents) as RGBA8.
/// Files over 512 MiB are refused: by their length before they are read,
/// and a pipe or a growing file once that much has been read.
///
/// ```
/// let err = gpu::io::load_image("no/such/file.png").unwrap_err();
/// assert!(err.to_string().contains("no/such/file.png"));
/// ```
pub fn load_image(path: impl AsRef<Path>) -> Result<RgbaImage> {
    use std::io::Read;
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| image_error(path, e))?;
    let size = file.metadata().map_err(|e| image_error(path, e))?.len();
    if size > MAX_FILE_BYTES {
        return Err(too_large(&path.display().to_string(), size));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| image_error(path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(&path.display().to_string(), bytes.len() as u64));
    }
    decode(path, &bytes)
}

/// Decodes image `bytes` (named `path` in errors) as RGBA8.
pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<RgbaImage> {
    if bytes.is_empty() {
        return Err(image_error(path, "the file is empty"));
    }
    let format = image::guess_format(bytes)
        .map_err(|_| image_error(path, "not a PNG or JPEG image (unknown format)"))?;
    let img =
        image::load_from_memory_with_format(bytes, format).map_err(|e| image_error(path, e))?;
    Ok(img.into_rgba8())
}

/// Writes `img` to `path` atomically, in the format its extension names
/// (`.png`, `.jpg`/`.jpeg`; JPEG drops alpha).
///
/// ```
/// let img = image::RgbaImage::from_pixel(2, 2, image::Rgba([1, 2, 3, 255]));
/// let path = std::env::temp_dir().join("gpu-compute-doctest-save.png");
/// gpu::io::save_image(&img, &path)?;
/// assert_eq!(gpu::io::load_image(&path)?, img);
/// assert!(gpu::io::save_image(&img, "/no/such/dir/x.png").is_err());
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), gpu::Error>(())
/// ```
pub fn save_image(img: &RgbaImage, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    write_atomic(path, &encode(img, path)?)
}

/// `img` encoded in the format `path`'s extension names.
pub(crate) fn encode(img: &RgbaImage, path: &Path) -> Result<Vec<u8>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let mut encoded = Vec::new();
    let cursor = &mut std::io::Cursor::new(&mut encoded);
    match ext.as_str() {
        "png" => img.write_to(cursor, image::ImageFormat::Png),
        "jpg" | "jpeg" => image::DynamicImage::ImageRgba8(img.clone())
            .to_rgb8()
            .write_to(cursor, image::ImageFormat::Jpeg),
        _ => {
            return Err(image_error(
                path,
                format!("unknown output format {ext:?}: use .png, .jpg or .jpeg"),
            ))
        }
    }
    .map_err(|e| image_error(path, e))?;
    Ok(encoded)
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over
/// `path`; on any failure the temporary file is removed.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| image_error(path, "not a file path"))?;
    // Unique per process and per write, so concurrent writes never share one.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        image_error(path, e)
    })
}
