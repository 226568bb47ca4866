//! The tile kernel (shaders/tile.wgsl with the generated energy_tile.wgsl): CHAINS chains
//! per workgroup, every step in one dispatch. Its sizes (what the kernel assumes and does
//! not check at run time), the constants written into its source, and its loop count on
//! llvmpipe.

use super::codegen::{self, lanes, tile_slots};
use super::compiled::Compiled;
use super::program::{Mode, Program};
use crate::energy::Model;
use crate::kernels::constants::{MAX_GROUPS, MAX_REGS, MAX_UNITS, TILE_CHAINS, TILE_THREADS};

/// Weight rows the tile kernel stages per round (`K_TILE` in ops_tile.wgsl): the smallest,
/// and the largest the host tries. Each round costs two barriers, so small tiles, which
/// leave workgroup memory free, take more rows per round: fewer barriers per step (latency).
pub const TILE_K: u32 = 8;
const TILE_K_MAX: u32 = 32;

/// The sizes written into the tile kernel's source as constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Chains per workgroup (`CHAINS`).
    pub chains: u32,
    /// Rows of the activation buffer (`WIDTH`, `width`).
    pub width: u32,
    /// Weight rows per round (`K_TILE`, `k_tile`).
    pub k_tile: u32,
    /// vec4 registers of the energy's program per thread (`REGS`, `regs`).
    pub regs: u32,
}

impl Sizes {
    /// The sizes for a compiled model at `chains` chains per workgroup within `limits`.
    pub(crate) fn for_program(compiled: &Compiled, chains: u32, limits: &wgpu::Limits) -> Sizes {
        Self::of(&compiled.infer, chains, limits)
    }

    /// The sizes for `program` at `chains` chains per workgroup within `limits`.
    fn of(program: &Program, chains: u32, limits: &wgpu::Limits) -> Sizes {
        Sizes {
            chains,
            width: width(program),
            k_tile: k_tile(program, chains, limits),
            regs: regs(program, chains).max(1) as u32,
        }
    }

    /// The sizes for `model` at `chains` chains per workgroup within `limits`.
    pub fn for_model(model: &Model, chains: u32, limits: &wgpu::Limits) -> Sizes {
        Self::of(&Program::lower(model, Mode::Infer), chains, limits)
    }

    /// The WGSL constants (`LANE_SLOTS`, lane_sum's partial sums, is one per thread).
    pub fn wgsl(&self) -> String {
        format!(
            "const CHAINS: u32 = {}u;\nconst WIDTH: u32 = {}u;\nconst K_TILE: u32 = {}u;\nconst REGS: u32 = {}u;\nconst LANE_SLOTS: u32 = {TILE_THREADS}u;\n",
            self.chains, self.width, self.k_tile, self.regs
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

/// Rows of the tile kernel's activation buffer: the widest tensor of the program.
fn width(program: &Program) -> u32 {
    program.tensors.iter().map(|t| t.width).max().unwrap_or(1) as u32
}

/// vec4 registers per thread the program's tensors take at `chains` chains per workgroup,
/// those whose lives do not overlap sharing.
fn regs(program: &Program, chains: u32) -> usize {
    let lanes = lanes(chains);
    program.allocate(|t| tile_slots(t.width, t.kind, lanes)).1
}

/// Bytes of workgroup memory the tile kernel needs for a `width`-row activation buffer,
/// `chains` chains per workgroup and `k_tile` weight rows per round: activations (`act`),
/// a weight tile (`wtile`), lane_sum's partial sums (`lane_partials`, and `lane_slots` with
/// subgroups), the lanes' totals (`group_totals`, where the program sums over lanes), and
/// the per-group and per-chain flags (`group_live`, `tile_live`, `tile_non_finite`). A test
/// holds this to naga's layout of the specialised module.
fn bytes(program: &Program, chains: u32, k_tile: u32) -> u64 {
    let width = width(program);
    let flags = 4 * u64::from(MAX_GROUPS) + 4 + 4 * 4 * u64::from(MAX_GROUPS) + 4;
    let totals = if program.sums_over_lanes() {
        16 * u64::from(MAX_GROUPS)
    } else {
        0
    };
    4 * u64::from(width) * u64::from(chains + k_tile)
        + 16 * u64::from(TILE_THREADS)
        + flags
        + totals
}

/// Bytes of workgroup memory the tile kernel needs for `model` (see [`Sizes`]).
pub fn workgroup_bytes(model: &Model, chains: u32, k_tile: u32) -> u64 {
    bytes(&Program::lower(model, Mode::Infer), chains, k_tile)
}

/// Weight rows per round for a tile of `chains`: the most, up to 32, that fit the adapter's
/// workgroup memory (at least TILE_K; [`misfit`] says whether that fits).
fn k_tile(program: &Program, chains: u32, limits: &wgpu::Limits) -> u32 {
    let limit = u64::from(limits.max_compute_workgroup_storage_size);
    let mut k = TILE_K;
    while k < TILE_K_MAX && bytes(program, chains, 2 * k) <= limit {
        k *= 2;
    }
    k
}

/// Why the tile kernel cannot run `program` with `chains` chains per workgroup, if so.
/// These are the sizes tile.wgsl assumes and does not check at run time.
pub(crate) fn misfit_program(
    program: &Program,
    chains: u32,
    limits: &wgpu::Limits,
) -> Option<String> {
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
    let lanes = lanes(chains);
    if let Some(t) = program
        .tensors
        .iter()
        .find(|t| t.width.div_ceil(lanes) > MAX_UNITS as usize)
    {
        return Some(format!(
            "tensor {:?} is {} wide: at {chains} chains per workgroup a thread would own more than {MAX_UNITS} vec4s of it",
            t.name, t.width
        ));
    }
    let regs = regs(program, chains);
    if regs > MAX_REGS as usize {
        return Some(format!(
            "the energy keeps {regs} vec4 registers per thread live at once at {chains} chains per workgroup (its values, derivatives and deltas), more than {MAX_REGS}"
        ));
    }
    let bytes = bytes(program, chains, TILE_K);
    let limit = u64::from(limits.max_compute_workgroup_storage_size);
    if bytes > limit {
        return Some(format!(
            "needs {bytes} bytes of workgroup memory at {chains} chains per workgroup, the adapter allows {limit}"
        ));
    }
    None
}

/// Why the tile kernel cannot run `model` with `chains` chains per workgroup, if so.
pub fn misfit(model: &Model, chains: u32, limits: &wgpu::Limits) -> Option<String> {
    misfit_program(&Program::lower(model, Mode::Infer), chains, limits)
}

/// The tile sizes the kernel can run `program` at within `limits`, smallest first.
pub(crate) fn fitting_program(program: &Program, limits: &wgpu::Limits) -> Vec<u32> {
    TILE_CHAINS
        .into_iter()
        .filter(|&chains| misfit_program(program, chains, limits).is_none())
        .collect()
}

/// The tile sizes the kernel can run `model` at within `limits`, smallest first.
pub fn fitting(model: &Model, limits: &wgpu::Limits) -> Vec<u32> {
    fitting_program(&Program::lower(model, Mode::Infer), limits)
}

/// vec4 registers per thread the energy of `model` keeps at `chains` chains per workgroup
/// (what [`misfit`] holds to MAX_REGS).
pub fn registers(model: &Model, chains: u32) -> usize {
    regs(&Program::lower(model, Mode::Infer), chains)
}

/// Loop iterations of tile.wgsl: (once per dispatch, per step), for the busiest thread.
pub(crate) fn loop_iterations(compiled: &Compiled, chains: u32) -> (u64, u64) {
    let program = &compiled.infer;
    let loops = codegen::tile(program, chains).loops;
    let units = u64::from(MAX_UNITS) + 1;
    let lanes = lanes(chains) as u64;
    // Update: 4 chains x (10 Philox rounds + 1) per coordinate, plus the loop itself, and
    // the lane sum of gradient clipping.
    let update = units * (1 + 4 * 11) + 2 * units + lanes + 16;
    let fixed = loops.pre + 4 * units * 5 + loops.forward + program.y_dim as u64 + lanes + 12;
    (fixed, loops.forward + loops.backward + update + 1)
}
