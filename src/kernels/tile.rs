//! The tile kernel (shaders/tile.wgsl): CHAINS chains per workgroup, every step in one
//! dispatch. Its sizes (what the kernel assumes and does not check at run time), the
//! constants written into its source, and its loop count on llvmpipe.

use crate::constants::{MAX_GROUPS, MAX_SAVED, MAX_UNITS, TILE_CHAINS, TILE_THREADS};
use crate::model::Model;

/// Weight rows the tile kernel stages per round (`K_TILE` in tile.wgsl): the smallest, and
/// the largest the host tries. Each round costs two barriers, so small tiles, which leave
/// workgroup memory free, take more rows per round: fewer barriers per step (latency).
pub const TILE_K: u32 = 8;
const TILE_K_MAX: u32 = 32;

/// The sizes written into the tile kernel's source as constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Chains per workgroup (`CHAINS`).
    pub chains: u32,
    /// Rows of the activation buffer (`WIDTH`, [`width`]).
    pub width: u32,
    /// Weight rows per round (`K_TILE`, [`k_tile`]).
    pub k_tile: u32,
}

impl Default for Sizes {
    /// Sizes any kernel translates with (tests of the shaders alone).
    fn default() -> Self {
        Sizes {
            chains: 16,
            width: 256,
            k_tile: TILE_K,
        }
    }
}

impl Sizes {
    /// The sizes for `model` at `chains` chains per workgroup within `limits`.
    pub fn for_model(model: &Model, chains: u32, limits: &wgpu::Limits) -> Sizes {
        Sizes {
            chains,
            width: width(model),
            k_tile: k_tile(model, chains, limits),
        }
    }

    /// The WGSL constants (`LANE_SLOTS`, lane_sum's partial sums, is one per thread).
    pub fn wgsl(&self) -> String {
        format!(
            "const CHAINS: u32 = {}u;\nconst WIDTH: u32 = {}u;\nconst K_TILE: u32 = {}u;\nconst LANE_SLOTS: u32 = {TILE_THREADS}u;\n",
            self.chains, self.width, self.k_tile
        )
    }
}

/// Whether the tile kernel sums over lanes with subgroup operations
/// (lane_sum_subgroup.wgsl): where the device has them and its subgroups have at least
/// MAX_GROUPS invocations, since each subgroup leaves MAX_GROUPS sums in a slot array of
/// TILE_THREADS entries. Elsewhere the portable lane_sum.wgsl.
pub fn subgroup_lane_sums(has_subgroups: bool, subgroup_min_size: u32) -> bool {
    has_subgroups && subgroup_min_size >= MAX_GROUPS
}

/// Rows of the tile kernel's activation buffer: the widest layer, x_dim and y_dim included.
pub fn width(model: &Model) -> u32 {
    let widest = model.layers.iter().map(|l| l.n_out).max().unwrap_or(0);
    widest.max(model.x_dim).max(model.y_dim) as u32
}

/// Bytes of workgroup memory the tile kernel needs for `chains` chains per workgroup and
/// `k_tile` weight rows per round: activations (`act`), a weight tile (`wtile`), lane_sum's
/// partial sums (`lane_partials`, and `lane_slots` with subgroups), and the per-group and
/// per-chain flags (`group_live`, `tile_live`, `tile_non_finite`). A test holds this to
/// naga's layout of the specialised module.
pub fn workgroup_bytes(model: &Model, chains: u32, k_tile: u32) -> u64 {
    let flags = 4 * u64::from(MAX_GROUPS) + 4 + 4 * 4 * u64::from(MAX_GROUPS) + 4;
    4 * u64::from(width(model)) * u64::from(chains + k_tile) + 16 * u64::from(TILE_THREADS) + flags
}

/// Weight rows per round for a tile of `chains`: the most, up to 32, that fit the adapter's
/// workgroup memory (at least TILE_K; [`misfit`] says whether that fits).
pub fn k_tile(model: &Model, chains: u32, limits: &wgpu::Limits) -> u32 {
    let limit = u64::from(limits.max_compute_workgroup_storage_size);
    let mut k = TILE_K;
    while k < TILE_K_MAX && workgroup_bytes(model, chains, 2 * k) <= limit {
        k *= 2;
    }
    k
}

/// Why the tile kernel cannot run this model with `chains` chains per workgroup, if so.
/// These are the sizes tile.wgsl assumes and does not check at run time.
pub fn misfit(model: &Model, chains: u32, limits: &wgpu::Limits) -> Option<String> {
    if !TILE_CHAINS.contains(&chains) {
        return Some(format!(
            "{chains} chains per workgroup is not one of {TILE_CHAINS:?}"
        ));
    }
    if limits.max_compute_invocations_per_workgroup < TILE_THREADS
        || limits.max_compute_workgroup_size_x < TILE_THREADS
    {
        return Some(format!(
            "the adapter allows fewer than {TILE_THREADS} threads per workgroup"
        ));
    }
    let lanes = TILE_THREADS / (chains / 4);
    let owned = |n: usize| (n as u32).div_ceil(lanes);
    let width = width(model);
    if width.div_ceil(lanes) > MAX_UNITS {
        return Some(format!(
            "a layer {width} wide needs more than {MAX_UNITS} vec4 registers per thread at {chains} chains per workgroup"
        ));
    }
    let hidden = &model.layers[..model.layers.len() - 1];
    let saved: u32 = hidden.iter().map(|l| owned(l.n_out)).sum();
    if saved > MAX_SAVED {
        return Some(format!(
            "the hidden layers need {saved} vec4s of act'(z) per thread at {chains} chains per workgroup, more than {MAX_SAVED}"
        ));
    }
    let bytes = workgroup_bytes(model, chains, TILE_K);
    let limit = u64::from(limits.max_compute_workgroup_storage_size);
    if bytes > limit {
        return Some(format!(
            "needs {bytes} bytes of workgroup memory at {chains} chains per workgroup, the adapter allows {limit}"
        ));
    }
    None
}

/// The tile sizes the kernel can run `model` at within `limits`, smallest first.
pub fn fitting(model: &Model, limits: &wgpu::Limits) -> Vec<u32> {
    TILE_CHAINS
        .into_iter()
        .filter(|&chains| misfit(model, chains, limits).is_none())
        .collect()
}

/// Loop iterations of tile.wgsl: (once per dispatch, per step), for the busiest thread.
pub(crate) fn loop_iterations(model: &Model, chains: u32, k_tile: u32) -> (u64, u64) {
    let threads = u64::from(TILE_THREADS);
    let units = u64::from(MAX_UNITS) + 1;
    let lanes = u64::from(TILE_THREADS / (chains / 4));
    let gemm = |rows: usize, cols: usize| {
        let (rows, cols) = (rows as u64, cols as u64);
        if cols <= 4 {
            // gemm_narrow: rows over the lanes, then lane_sum over the lanes.
            return cols * (rows.div_ceil(lanes) + lanes + 12) + 1;
        }
        let tiles = rows.div_ceil(u64::from(k_tile));
        tiles * (u64::from(k_tile) * cols).div_ceil(threads) + rows * (units + 1) + tiles + 1
    };
    let (x_dim, y_dim) = (model.x_dim, model.y_dim);
    let n_layers = model.layers.len() as u64;
    let mut forward = n_layers + 1;
    let mut backward = 2 * n_layers + 1;
    for (l, layer) in model.layers.iter().enumerate() {
        let rows = if l == 0 { y_dim } else { layer.n_in };
        forward += gemm(rows, layer.n_out) + 2 * units;
        let cols = if l == 0 { y_dim } else { layer.n_in };
        backward += gemm(layer.n_out, cols) + 2 * units;
    }
    // Update: 4 chains x (10 Philox rounds + 1) per coordinate, plus the loop itself, and
    // the lane sum of gradient clipping.
    let update = units * (1 + 4 * 11) + 2 * units + lanes + 16;
    let fixed = (x_dim as u64).div_ceil(lanes)
        + gemm(x_dim, model.layers[0].n_out)
        + 4 * units * 5
        + forward
        + y_dim as u64
        + model.layers.last().map_or(0, |l| l.n_out as u64);
    (fixed, forward + backward + update + 1)
}
