// Reduction of kernel(in0[i], in1[i]) over i < params.n: each invocation
// folds a grid-stride run of elements, each workgroup folds its invocations'
// values, and out[workgroup] receives the workgroup's result; the host
// combines those pairwise. Appended to ops.wgsl (see there).
//
// The pipeline sets OP: 0 sum, 1 min, 2 max, 3 product. min and max
// propagate NaN whatever the hardware min/max do with it.
//
// The lines between `subgroups:begin` and `subgroups:end` use subgroup
// operations; for adapters without the SUBGROUP feature the library removes
// them, which leaves the portable workgroup-memory tree.

override OP: u32 = 0u;

const WORKGROUP: u32 = 256u;

var<workgroup> partial: array<f32, 256>;

fn neutral() -> f32 {
    switch OP {
        case 0u: { return 0.0; }
        case 1u: { return params.inf; }
        case 2u: { return -params.inf; }
        default: { return 1.0; }
    }
}

fn combine(a: f32, b: f32) -> f32 {
    switch OP {
        case 0u: { return a + b; }
        case 1u: { return select(select(a, b, b < a), params.nan, is_nan(a) || is_nan(b)); }
        case 2u: { return select(select(a, b, b > a), params.nan, is_nan(a) || is_nan(b)); }
        default: { return a * b; }
    }
}

// The portable workgroup step: a tree in workgroup memory.
fn reduce_tree(v: f32, lid: u32) -> f32 {
    partial[lid] = v;
    workgroupBarrier();
    for (var s = WORKGROUP / 2u; s > 0u; s = s / 2u) {
        if lid < s {
            partial[lid] = combine(partial[lid], partial[lid + s]);
        }
        workgroupBarrier();
    }
    return partial[0];
}

// subgroups:begin
// The subgroup step: one subgroup operation, then the first invocation
// folds the subgroups' results. NaN is tracked apart, since what subgroup
// min and max do with NaN is up to the implementation.
fn reduce_subgroups(v: f32, lid: u32, sg_id: u32, sg_lane: u32, sg_count: u32) -> f32 {
    var r: f32;
    switch OP {
        case 0u: { r = subgroupAdd(v); }
        case 1u: { r = subgroupMin(v); }
        case 2u: { r = subgroupMax(v); }
        default: { r = subgroupMul(v); }
    }
    let any_nan = subgroupOr(select(0u, 1u, is_nan(v)));
    if sg_lane == 0u {
        partial[sg_id] = select(r, params.nan, any_nan != 0u);
    }
    workgroupBarrier();
    var total = neutral();
    if lid == 0u {
        for (var k = 0u; k < sg_count; k = k + 1u) {
            total = combine(total, partial[k]);
        }
    }
    return total;
}
// subgroups:end

@compute @workgroup_size(256)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    // subgroups:begin
    @builtin(subgroup_id) sg_id: u32,
    @builtin(subgroup_invocation_id) sg_lane: u32,
    @builtin(num_subgroups) sg_count: u32,
    // subgroups:end
) {
    // Four independent accumulators, so that four loads are in flight per
    // invocation rather than one: the loop is bound by memory latency
    // otherwise. Chunks hold far fewer than 2^32 / 4 elements, so the
    // indices cannot overflow.
    let s = params.row_stride;
    var a0 = neutral();
    var a1 = neutral();
    var a2 = neutral();
    var a3 = neutral();
    var i = wid.x * WORKGROUP + lid.x;
    loop {
        if i + 3u * s >= params.n {
            break;
        }
        a0 = combine(a0, kernel(in0[i], in1[i]));
        a1 = combine(a1, kernel(in0[i + s], in1[i + s]));
        a2 = combine(a2, kernel(in0[i + 2u * s], in1[i + 2u * s]));
        a3 = combine(a3, kernel(in0[i + 3u * s], in1[i + 3u * s]));
        i = i + 4u * s;
    }
    loop {
        if i >= params.n {
            break;
        }
        a0 = combine(a0, kernel(in0[i], in1[i]));
        i = i + s;
    }
    let acc = combine(combine(a0, a1), combine(a2, a3));
    var total: f32;
    // subgroups:begin
    total = reduce_subgroups(acc, lid.x, sg_id, sg_lane, sg_count);
    if false {
    // subgroups:end
    total = reduce_tree(acc, lid.x);
    // subgroups:begin
    }
    // subgroups:end
    if lid.x == 0u {
        out[wid.x] = total;
    }
}
