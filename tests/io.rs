//! Image files: errors name the file, and failed writes leave nothing behind.

use gpu::io::{load_image, save_image};
use gpu::Error;
use image::RgbaImage;
use std::path::PathBuf;

/// A fresh, empty folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gpu-compute-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sample() -> RgbaImage {
    RgbaImage::from_fn(13, 7, |x, y| {
        image::Rgba([x as u8 * 10, y as u8 * 30, 200, 255 - x as u8])
    })
}

#[test]
fn bad_inputs_are_errors_naming_the_file() {
    let dir = scratch("bad-inputs");
    let good = dir.join("good.png");
    save_image(&sample(), &good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.png", Vec::new(), "the file is empty"),
        (
            "text.png",
            b"not an image at all".to_vec(),
            "unknown format",
        ),
        ("truncated.png", bytes[..bytes.len() / 2].to_vec(), ""),
        (
            "corrupt.png",
            {
                let mut b = bytes.clone();
                for v in &mut b[40..80] {
                    *v ^= 0x5a;
                }
                b
            },
            "",
        ),
    ];
    for (name, content, reason) in cases {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        let err = load_image(&path).unwrap_err();
        assert!(matches!(err, Error::Image { .. }), "{name}: {err:?}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&path.display().to_string()),
            "{name}: {msg}"
        );
        assert!(msg.contains(reason), "{name}: {msg}");
    }
    let missing = dir.join("missing.png");
    let msg = load_image(&missing).unwrap_err().to_string();
    assert!(
        msg.contains("missing.png") && msg.contains("No such file"),
        "{msg}"
    );
    assert_eq!(load_image(&good).unwrap(), sample());
}

#[test]
fn failed_writes_leave_no_partial_file() {
    let dir = scratch("writes");
    let img = sample();
    // An unknown format, a missing folder, and a folder where the file should be.
    let unknown = dir.join("out.bmp");
    let err = save_image(&img, &unknown).unwrap_err();
    assert!(
        err.to_string().contains("unknown output format \"bmp\""),
        "{err}"
    );
    let missing = dir.join("no-such-folder").join("out.png");
    assert!(save_image(&img, &missing)
        .unwrap_err()
        .to_string()
        .contains("no-such-folder"));
    let occupied = dir.join("taken.png");
    std::fs::create_dir(&occupied).unwrap();
    assert!(save_image(&img, &occupied).is_err());
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("taken.png")],
        "only the folder we made remains"
    );
    // A successful write replaces the destination whole.
    let out = dir.join("out.png");
    std::fs::write(&out, b"old contents").unwrap();
    save_image(&img, &out).unwrap();
    assert_eq!(load_image(&out).unwrap(), img);
    let jpg = dir.join("out.jpg");
    save_image(&img, &jpg).unwrap();
    assert_eq!(load_image(&jpg).unwrap().dimensions(), (13, 7));
}

#[test]
fn image_files_over_512_mib_are_refused() {
    use futures_util::StreamExt;
    use tokio::io::AsyncReadExt;
    let dir = scratch("huge");
    // Sparse: 513 MiB long, no disk used.
    let huge = dir.join("huge.png");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(513 << 20)
        .unwrap();
    let check = |err: String| {
        assert!(err.contains("huge.png"), "{err}");
        assert!(
            err.contains("over the 536870912 an image file may have"),
            "{err}"
        );
    };
    check(load_image(&huge).unwrap_err().to_string());
    // A device of no length that never ends is read up to the limit only.
    if cfg!(unix) {
        let err = load_image("/dev/zero").unwrap_err().to_string();
        assert!(
            err.contains("/dev/zero") && err.contains("an image file may have"),
            "{err}"
        );
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let loader = gpu::io::Loader::new(gpu::Backend::Cpu).unwrap();
    let got = rt.block_on(loader.load_paths([&huge]).next()).unwrap();
    check(got.result.unwrap_err().to_string());
    // A stream of unknown length stops once past the limit.
    let endless = tokio::io::repeat(0).take(600 << 20);
    let got = rt
        .block_on(loader.load_readers([("huge.png", endless)]).next())
        .unwrap();
    let err = got.result.unwrap_err().to_string();
    assert!(
        err.contains("huge.png") && err.contains("an image file may have"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
