#!/usr/bin/env python3
"""Makes the golden outputs the filter tests compare against, with OpenCV.

Each filter's meaning is defined here, as the OpenCV calls that produce it;
`src/filter/` documents the same definitions. The test inputs are generated
deterministically, written as PNG next to the outputs, and committed with
them, so the tests need neither Python nor OpenCV.

    python3 -m pip install numpy opencv-python-headless
    python3 scripts/make_goldens.py          # writes tests/data/filters/

Images are RGBA. OpenCV works in BGRA order; every call below is symmetric
in the colour channels except the luma weights, which are applied with
COLOR_RGBA2GRAY on the RGBA array itself.
"""
import os
import sys

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data", "filters")
RE = cv2.BORDER_REPLICATE


def inputs():
    """Named RGBA test images: smooth gradients, noise, hard edges, varying alpha."""
    rng = np.random.default_rng(20261126)
    imgs = {}
    h, w = 23, 37
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 4), np.uint8)
    img[..., 0] = (x * 255 // (w - 1)).astype(np.uint8)
    img[..., 1] = (y * 255 // (h - 1)).astype(np.uint8)
    img[..., 2] = rng.integers(0, 256, (h, w), dtype=np.uint8)
    img[..., 3] = np.where((x // 6 + y // 5) % 2 == 0, 255, 96).astype(np.uint8)
    img[8:14, 10:25, :3] = 250  # a bright block with hard edges
    imgs["synthetic_37x23"] = img
    imgs["noise_16x16"] = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    imgs["row_9x1"] = rng.integers(0, 256, (1, 9, 4), dtype=np.uint8)
    imgs["column_1x9"] = rng.integers(0, 256, (9, 1, 4), dtype=np.uint8)
    imgs["pixel_1x1"] = np.array([[[200, 100, 50, 128]]], np.uint8)
    coffee = cv2.imread(os.path.join(HERE, "..", "assets", "coffee.png"), cv2.IMREAD_COLOR)
    coffee = cv2.cvtColor(cv2.resize(coffee, (60, 40), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGBA)
    imgs["coffee_60x40"] = coffee
    return imgs


def keep_alpha(src, out):
    out = out.copy()
    out[..., 3] = src[..., 3]
    return out


def gray3(src, g):
    out = np.empty_like(src)
    out[..., 0] = out[..., 1] = out[..., 2] = g
    out[..., 3] = src[..., 3]
    return out


def gaussian(img, sigma):
    # The library's kernel size, radius ceil(3 sigma), passed explicitly.
    k = 2 * int(np.ceil(3 * sigma)) + 1
    return cv2.GaussianBlur(img, (k, k), sigma, borderType=RE)


FILTERS = {
    # Blurs and convolutions: all four channels, as OpenCV does on RGBA.
    "blur:0.5": lambda im: gaussian(im, 0.5),
    "blur:1": lambda im: gaussian(im, 1.0),
    "blur:3": lambda im: gaussian(im, 3.0),
    "box:1": lambda im: cv2.blur(im, (3, 3), borderType=RE),
    "box:2": lambda im: cv2.blur(im, (5, 5), borderType=RE),
    "conv:3:-2,-1,0,-1,1,1,0,1,2": lambda im: cv2.filter2D(
        im, -1, np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], np.float32), borderType=RE),
    "sep:0.25,0.5,0.25:1,0,-1": lambda im: cv2.sepFilter2D(
        im, -1, np.array([0.25, 0.5, 0.25], np.float32), np.array([1, 0, -1], np.float32), borderType=RE),
    # Colour filters: RGB only; alpha passes through.
    # Unsharp mask in float (no 8-bit rounding of the blurred image), then
    # rounded and saturated once.
    "sharpen:1.5:2": lambda im: keep_alpha(im, sharpen(im, 1.5, 2.0)),
    "grayscale": lambda im: gray3(im, cv2.cvtColor(im, cv2.COLOR_RGBA2GRAY)),
    "sobel": lambda im: gray3(im, sobel(im)),
    "invert": lambda im: keep_alpha(im, 255 - im),
    # saturate(contrast * x + brightness), rounded, as Mat::convertTo.
    "bc:1.2:-10": lambda im: keep_alpha(im, cv2.addWeighted(im, 1.2, im, 0.0, -10)),
}


def sharpen(im, amount, sigma):
    f = im.astype(np.float32)
    out = cv2.addWeighted(f, 1.0 + amount, gaussian(f, sigma), -amount, 0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def sobel(im):
    g = cv2.cvtColor(im, cv2.COLOR_RGBA2GRAY)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, borderType=RE)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, borderType=RE)
    return np.clip(np.rint(cv2.magnitude(gx, gy)), 0, 255).astype(np.uint8)


def file_name(name):
    return name.replace(":", "_").replace(",", "_")


def main():
    os.makedirs(OUT, exist_ok=True)
    for img_name, img in inputs().items():
        cv2.imwrite(os.path.join(OUT, f"{img_name}.png"), cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA))
        for f_name, f in FILTERS.items():
            out = f(img)
            assert out.shape == img.shape and out.dtype == np.uint8, (img_name, f_name, out.shape)
            path = os.path.join(OUT, f"{img_name}__{file_name(f_name)}.png")
            cv2.imwrite(path, cv2.cvtColor(out, cv2.COLOR_RGBA2BGRA))
    with open(os.path.join(OUT, "filters.txt"), "w") as listing:
        listing.write("# filter text form -> file name part; made by scripts/make_goldens.py with OpenCV "
                      + cv2.__version__ + "\n")
        for f_name in FILTERS:
            listing.write(f"{f_name} {file_name(f_name)}\n")
    print(f"wrote {len(inputs())} inputs x {len(FILTERS)} filters to {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
