// Elementwise map: out[i] = kernel(in0[i], in1[i]) for i < params.n.
// Appended to ops.wgsl (see there).

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * params.row_stride;
    if i >= params.n {
        return;
    }
    out[i] = kernel(in0[i], in1[i]);
}
