// Elementwise map: out[i] = kernel(in0[i], in1[i]) for i < params.n.
// Appended to ops.wgsl (see there).
//
// Each invocation computes four values a quarter of the dispatch apart
// (span = ceil(n / 4)), loading all four before computing: with one value
// per invocation a GPU keeps too few loads in flight to reach its memory
// bandwidth. Neighbouring invocations still touch neighbouring values, so
// every access is coalesced. The host dispatches ceil(n / 4) invocations.

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = params.n;
    let span = (n + 3u) / 4u;
    let i0 = gid.x + gid.y * params.row_stride;
    if i0 >= span {
        return;
    }
    let i1 = i0 + span;
    let i2 = i1 + span;
    let i3 = i2 + span;
    if i3 < n {
        let a0 = in0[i0];
        let a1 = in0[i1];
        let a2 = in0[i2];
        let a3 = in0[i3];
        let b0 = in1[i0];
        let b1 = in1[i1];
        let b2 = in1[i2];
        let b3 = in1[i3];
        out[i0] = kernel(a0, b0);
        out[i1] = kernel(a1, b1);
        out[i2] = kernel(a2, b2);
        out[i3] = kernel(a3, b3);
        return;
    }
    out[i0] = kernel(in0[i0], in1[i0]);
    if i1 < n {
        out[i1] = kernel(in0[i1], in1[i1]);
    }
    if i2 < n {
        out[i2] = kernel(in0[i2], in1[i2]);
    }
}
