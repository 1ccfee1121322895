// Image filters on RGBA8 images, pixels packed one per u32 (R in the low
// byte). One dispatch processes a band of rows: `src` holds input rows
// `src_row0 .. src_row0 + src_rows` of the image (the band plus its halo),
// `dst` receives output rows `dst_row0 .. dst_row0 + dst_rows`. Borders
// replicate (coordinates are clamped to the image, then to the band).
//
// Separable filters run two passes: `rows` (the row kernel, through a
// workgroup-memory tile) writes every source row to `mid` as f32 RGBA,
// then `columns` (the column kernel) reads `mid` and writes rounded pixels.
// Values are rounded to nearest, ties to even (WGSL's round), and saturated.

struct FilterParams {
    width: u32,
    height: u32,
    src_row0: u32,
    src_rows: u32,
    dst_row0: u32,
    dst_rows: u32,
    // Kernel radii along x and y, and the side of a square kernel.
    radius_x: u32,
    radius_y: u32,
    // What `columns` finishes with (0 round, 1 sharpen), and what `point`
    // does (0 grayscale, 1 invert, 2 brightness/contrast).
    mode: u32,
    // Where the column kernel starts in `weights` (the row kernel starts at 0).
    column_weights: u32,
    amount: f32,
    contrast: f32,
    brightness: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: FilterParams;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> mid: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;
@group(0) @binding(4) var<storage, read> weights: array<f32>;

const WORKGROUP: u32 = 256u;
// Widest row kernel the tile holds: radius 256 (513 taps).
const MAX_RADIUS: u32 = 256u;

var<workgroup> tile: array<vec4<f32>, 768>;

fn unpack(px: u32) -> vec4<f32> {
    return vec4<f32>(f32(px & 0xffu), f32((px >> 8u) & 0xffu), f32((px >> 16u) & 0xffu), f32(px >> 24u));
}

fn pack(v: vec4<f32>) -> u32 {
    let c = vec4<u32>(clamp(round(v), vec4<f32>(0.0), vec4<f32>(255.0)));
    return c.x | (c.y << 8u) | (c.z << 16u) | (c.w << 24u);
}

// The source pixel at image coordinates (x, y), clamped to the image.
fn source(x: i32, y: i32) -> vec4<f32> {
    let cx = u32(clamp(x, 0, i32(p.width) - 1));
    let cy = u32(clamp(y, 0, i32(p.height) - 1)) - p.src_row0;
    return unpack(src[cy * p.width + cx]);
}

// OpenCV's COLOR_RGBA2GRAY: 15-bit fixed-point weights, rounded.
fn luma(v: vec4<f32>) -> f32 {
    let c = vec3<u32>(v.xyz);
    return f32((c.x * 9798u + c.y * 19235u + c.z * 3735u + 16384u) >> 15u);
}

// Row kernel over every source row: mid[row, x] = sum_i w[i] * src[row, x + i - r].
@compute @workgroup_size(256)
fn rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wg.y;
    let x0 = i32(wg.x * WORKGROUP);
    let r = i32(p.radius_x);
    let y = i32(p.src_row0 + row);
    let span = WORKGROUP + 2u * p.radius_x;
    for (var t = lid.x; t < span; t = t + WORKGROUP) {
        tile[t] = source(x0 + i32(t) - r, y);
    }
    workgroupBarrier();
    let x = u32(x0) + lid.x;
    if x >= p.width || row >= p.src_rows {
        return;
    }
    var acc = vec4<f32>(0.0);
    for (var i = 0u; i <= 2u * p.radius_x; i = i + 1u) {
        acc = acc + weights[i] * tile[lid.x + i];
    }
    mid[row * p.width + x] = acc;
}

// The row kernel without the tile, for radii wider than it holds.
@compute @workgroup_size(256)
fn rows_wide(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let row = gid.y;
    if x >= p.width || row >= p.src_rows {
        return;
    }
    let y = i32(p.src_row0 + row);
    let r = i32(p.radius_x);
    var acc = vec4<f32>(0.0);
    for (var i = 0; i <= 2 * r; i = i + 1) {
        acc = acc + weights[u32(i)] * source(i32(x) + i - r, y);
    }
    mid[row * p.width + x] = acc;
}

// Column kernel: dst[y, x] = sum_j w[j] * mid[y + j - r, x], then rounded
// (mode 0), or the unsharp mask of the source pixel (mode 1, alpha kept).
@compute @workgroup_size(256)
fn columns(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let row = gid.y;
    if x >= p.width || row >= p.dst_rows {
        return;
    }
    let y = i32(p.dst_row0 + row);
    let r = i32(p.radius_y);
    var acc = vec4<f32>(0.0);
    for (var j = 0; j <= 2 * r; j = j + 1) {
        let yy = u32(clamp(y + j - r, 0, i32(p.height) - 1)) - p.src_row0;
        acc = acc + weights[p.column_weights + u32(j)] * mid[yy * p.width + x];
    }
    if p.mode == 1u {
        let s = source(i32(x), y);
        let sharpened = (1.0 + p.amount) * s - p.amount * acc;
        acc = vec4<f32>(sharpened.xyz, s.w);
    }
    dst[row * p.width + x] = pack(acc);
}

// Correlation with a square kernel of side 2 * radius_x + 1, all channels.
@compute @workgroup_size(256)
fn convolve(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let row = gid.y;
    if x >= p.width || row >= p.dst_rows {
        return;
    }
    let y = i32(p.dst_row0 + row);
    let r = i32(p.radius_x);
    let side = 2u * p.radius_x + 1u;
    var acc = vec4<f32>(0.0);
    for (var ky = 0u; ky < side; ky = ky + 1u) {
        for (var kx = 0u; kx < side; kx = kx + 1u) {
            acc = acc + weights[ky * side + kx] * source(i32(x) + i32(kx) - r, y + i32(ky) - r);
        }
    }
    dst[row * p.width + x] = pack(acc);
}

// Gradient magnitude of luma (3x3 Sobel), in RGB; alpha kept.
@compute @workgroup_size(256)
fn sobel(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = i32(gid.x);
    let row = gid.y;
    if gid.x >= p.width || row >= p.dst_rows {
        return;
    }
    let y = i32(p.dst_row0 + row);
    var g: array<f32, 9>;
    for (var j = 0; j < 3; j = j + 1) {
        for (var i = 0; i < 3; i = i + 1) {
            g[j * 3 + i] = luma(source(x + i - 1, y + j - 1));
        }
    }
    let gx = (g[2] + 2.0 * g[5] + g[8]) - (g[0] + 2.0 * g[3] + g[6]);
    let gy = (g[6] + 2.0 * g[7] + g[8]) - (g[0] + 2.0 * g[1] + g[2]);
    let m = sqrt(gx * gx + gy * gy);
    dst[row * p.width + gid.x] = pack(vec4<f32>(m, m, m, source(x, y).w));
}

// Per-pixel colour filters; alpha kept.
@compute @workgroup_size(256)
fn point(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = i32(gid.x);
    let row = gid.y;
    if gid.x >= p.width || row >= p.dst_rows {
        return;
    }
    let s = source(x, i32(p.dst_row0 + row));
    var v: vec3<f32>;
    switch p.mode {
        case 0u: { v = vec3<f32>(luma(s)); }
        case 1u: { v = 255.0 - s.xyz; }
        default: { v = p.contrast * s.xyz + p.brightness; }
    }
    dst[row * p.width + gid.x] = pack(vec4<f32>(v, s.w));
}
