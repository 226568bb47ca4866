//! Which kernel path runs a refinement, and the dispatches it takes.
//!
//! Three paths, each written up with its cost model at the top of its shader:
//! - `chain` (shaders/chain.wgsl): one chain per invocation, layer state in device memory.
//!   The fastest on CPU adapters (llvmpipe), where an invocation is a SIMD lane of a core.
//! - `tile` (shaders/tile.wgsl): a tile of chains per workgroup, every step in one dispatch,
//!   activations in workgroup memory and registers. The GPU path: large tiles for
//!   throughput, 4 chains per workgroup (each chain's layer spread over the whole workgroup)
//!   for latency.
//! - `layered` (shaders/layered.wgsl): a dispatch per layer and step, for models too wide
//!   for the tile kernel's workgroup memory or registers.

use std::fmt;
use std::str::FromStr;

use crate::config::{RefineConfig, Sampler};
pub use crate::constants::{
    LAYERED_TILE, MAX_GROUPS, MAX_SAVED, MAX_UNITS, TILE_CHAINS, TILE_THREADS, WORKGROUP_SIZE,
};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::shader::Kernel;

/// Weight rows the tile kernel stages per round (`K_TILE` in tile.wgsl): the smallest, and
/// the largest the host tries. Each round costs two barriers, so small tiles, which leave
/// workgroup memory free, take more rows per round: fewer barriers per step (latency).
pub const TILE_K: u32 = 8;
const TILE_K_MAX: u32 = 32;
/// Workgroups the automatic choice wants a refinement to fill before it grows the tile.
const TARGET_WORKGROUPS: usize = 128;

/// The kernel path a refinement runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelPath {
    /// One chain per invocation (shaders/chain.wgsl).
    Chain,
    /// `chains` chains per workgroup, every step in one dispatch (shaders/tile.wgsl).
    Tile {
        /// Chains per workgroup: 4, 8, 16 or 32.
        chains: u32,
    },
    /// One dispatch per layer and step (shaders/layered.wgsl).
    Layered,
}

impl fmt::Display for KernelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelPath::Chain => write!(f, "chain"),
            KernelPath::Tile { chains } => write!(f, "tile{chains}"),
            KernelPath::Layered => write!(f, "layered"),
        }
    }
}

/// Which path to run: chosen per call from the model, batch and adapter, or forced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PathChoice {
    /// Let `ebm` choose (the default).
    #[default]
    Auto,
    /// The tile path, at the tile size `ebm` would choose for the batch (`--kernel tile`).
    AnyTile,
    /// Exactly this path.
    Exactly(KernelPath),
}

impl FromStr for PathChoice {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "auto" => PathChoice::Auto,
            "chain" => PathChoice::Exactly(KernelPath::Chain),
            "tile" => PathChoice::AnyTile,
            "layered" => PathChoice::Exactly(KernelPath::Layered),
            _ => match s.strip_prefix("tile").and_then(|c| c.parse::<u32>().ok()) {
                Some(chains) if TILE_CHAINS.contains(&chains) => {
                    PathChoice::Exactly(KernelPath::Tile { chains })
                }
                _ => {
                    return Err(format!(
                        "unknown kernel path {s:?}; expected auto, chain, tile, tile4, tile8, tile16, tile32 or layered"
                    ))
                }
            },
        })
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
pub fn tile_width(model: &Model) -> u32 {
    let widest = model.layers.iter().map(|l| l.n_out).max().unwrap_or(0);
    widest.max(model.x_dim).max(model.y_dim) as u32
}

/// Bytes of workgroup memory the tile kernel needs for `chains` chains per workgroup and
/// `k_tile` weight rows per round: activations (`act`), a weight tile (`wtile`), lane_sum's
/// partial sums (`lane_partials`, and `lane_slots` with subgroups), and the per-group and
/// per-chain flags (`group_live`, `tile_live`, `tile_non_finite`). A test holds this to
/// naga's layout of the specialised module.
pub fn tile_workgroup_bytes(model: &Model, chains: u32, k_tile: u32) -> u64 {
    let flags = 4 * u64::from(MAX_GROUPS) + 4 + 4 * 4 * u64::from(MAX_GROUPS) + 4;
    4 * u64::from(tile_width(model)) * u64::from(chains + k_tile)
        + 16 * u64::from(TILE_THREADS)
        + flags
}

/// Weight rows per round for a tile of `chains`: the most, up to 32, that fit the adapter's
/// workgroup memory (at least TILE_K; [`tile_misfit`] says whether that fits).
pub fn tile_k(model: &Model, chains: u32, limits: &wgpu::Limits) -> u32 {
    let limit = u64::from(limits.max_compute_workgroup_storage_size);
    let mut k = TILE_K;
    while k < TILE_K_MAX && tile_workgroup_bytes(model, chains, 2 * k) <= limit {
        k *= 2;
    }
    k
}

/// Why the tile kernel cannot run this model with `chains` chains per workgroup, if so.
/// These are the sizes tile.wgsl assumes and does not check at run time.
pub fn tile_misfit(model: &Model, chains: u32, limits: &wgpu::Limits) -> Option<String> {
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
    let width = tile_width(model);
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
    let bytes = tile_workgroup_bytes(model, chains, TILE_K);
    let limit = u64::from(limits.max_compute_workgroup_storage_size);
    if bytes > limit {
        return Some(format!(
            "needs {bytes} bytes of workgroup memory at {chains} chains per workgroup, the adapter allows {limit}"
        ));
    }
    None
}

/// The tile sizes the kernel can run `model` at within `limits`, smallest first.
pub fn fitting_tiles(model: &Model, limits: &wgpu::Limits) -> Vec<u32> {
    TILE_CHAINS
        .into_iter()
        .filter(|&chains| tile_misfit(model, chains, limits).is_none())
        .collect()
}

/// Every path that can run `model` within `limits`: chain, each tile size that fits,
/// layered.
pub fn fitting_paths(model: &Model, limits: &wgpu::Limits) -> Vec<KernelPath> {
    let mut paths = vec![KernelPath::Chain];
    paths.extend(
        fitting_tiles(model, limits)
            .into_iter()
            .map(|chains| KernelPath::Tile { chains }),
    );
    paths.push(KernelPath::Layered);
    paths
}

/// The path `choice` resolves to for a batch of `n` chains.
pub fn choose(
    choice: PathChoice,
    model: &Model,
    n: usize,
    info: &wgpu::AdapterInfo,
    limits: &wgpu::Limits,
) -> Result<KernelPath> {
    let fits = |chains: u32| tile_misfit(model, chains, limits).is_none();
    // The largest tile that still gives every batch enough workgroups; 4 chains per
    // workgroup for small batches (the latency regime).
    let tile = || {
        let mut best = None;
        for chains in TILE_CHAINS {
            if fits(chains) && (best.is_none() || n.div_ceil(chains as usize) >= TARGET_WORKGROUPS)
            {
                best = Some(chains);
            }
        }
        best
    };
    match choice {
        PathChoice::Exactly(KernelPath::Tile { chains }) => {
            match tile_misfit(model, chains, limits) {
                None => Ok(KernelPath::Tile { chains }),
                Some(why) => Err(Error::config("PathChoice", format!("tile{chains}: {why}"))),
            }
        }
        PathChoice::Exactly(path) => Ok(path),
        PathChoice::AnyTile => match tile() {
            Some(chains) => Ok(KernelPath::Tile { chains }),
            None => Err(Error::config(
                "PathChoice",
                format!(
                    "tile: {}",
                    tile_misfit(model, 4, limits).unwrap_or_default()
                ),
            )),
        },
        PathChoice::Auto => Ok(if info.device_type == wgpu::DeviceType::Cpu {
            // One chain per invocation, unless one step alone comes near llvmpipe's loop
            // limit: then a dispatch per layer, whose loops are short.
            eval_path(model, info)
        } else if let Some(chains) = tile() {
            KernelPath::Tile { chains }
        } else {
            KernelPath::Layered
        }),
    }
}

/// Every path `choice` can resolve to for this model on this adapter, whatever the batch:
/// the paths an engine checks against the reference when it is made.
pub fn candidates(
    choice: PathChoice,
    model: &Model,
    info: &wgpu::AdapterInfo,
    limits: &wgpu::Limits,
) -> Vec<KernelPath> {
    let mut out = Vec::new();
    // Batches from 1 to well past where the largest tile is taken.
    for n in [1usize, 1 << 10, 1 << 11, 1 << 12, 1 << 13, 1 << 20] {
        if let Ok(path) = choose(choice, model, n, info, limits) {
            if !out.contains(&path) {
                out.push(path);
            }
        }
    }
    out
}

/// One dispatch of a call: the kernel, what its Params block changes, and its grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dispatch {
    /// The kernel.
    pub kernel: Kernel,
    /// Chains per workgroup of a tile kernel (0 for the others).
    pub chains: u32,
    /// First step it runs (keys the noise).
    pub step_offset: u32,
    /// Steps it runs (fused paths).
    pub steps: u32,
    /// Whether it writes the energy.
    pub write_energy: bool,
    /// Layer it works on (layered path).
    pub layer: u32,
    /// Workgroups in x and y.
    pub groups: (u32, u32),
}

/// The dispatches of an evaluation of `m` chains on `path`: the eval kernel (one chain per
/// invocation), or on the layered path (for models whose one-chain kernel would pass
/// llvmpipe's loop limit, see [`eval_path`]) W_x x + b, the forward and the backward pass.
pub fn evaluation(path: KernelPath, model: &Model, m: u32) -> Vec<Dispatch> {
    if path != KernelPath::Layered {
        return vec![Dispatch {
            kernel: Kernel::Eval,
            chains: 0,
            step_offset: 0,
            steps: 0,
            write_energy: true,
            layer: 0,
            groups: (m.div_ceil(WORKGROUP_SIZE), 1),
        }];
    }
    let layered = Layered { model, m };
    let mut out = vec![layered.xpart()];
    layered.passes(&mut out, 0);
    out
}

/// How one chunk of a refinement runs: its path, its `chains` (m), and what shapes its
/// dispatches. Its submissions are [`RefinePlan::segment`]s over consecutive step ranges
/// from 0.
#[derive(Clone, Copy, Debug)]
pub struct RefinePlan<'a> {
    /// The kernel path.
    pub path: KernelPath,
    /// The model.
    pub model: &'a Model,
    /// Chains in the chunk.
    pub chains: u32,
    /// Most steps of one fused dispatch (llvmpipe, see [`steps_per_dispatch`]; `u32::MAX`
    /// runs a segment's steps in one).
    pub steps_per_dispatch: u32,
    /// Whether an accept rule (MALA, keep-if-lower) orders the layered path's dispatches
    /// for proposals.
    pub accept_rule: bool,
    /// Whether the refinement ends with the trace's reduction.
    pub trace: bool,
}

impl RefinePlan<'_> {
    /// The dispatches of one submission: steps `steps.start..steps.end`; `finish` ends the
    /// refinement after `steps.end` steps (all of them, or fewer when it was cancelled):
    /// the final energy, and with `trace` the trace's reduction.
    pub fn segment(&self, steps: std::ops::Range<u32>, finish: bool) -> Vec<Dispatch> {
        let (m, model) = (self.chains, self.model);
        let mut out = match self.path {
            KernelPath::Layered => {
                Layered { model, m }.segment(steps.clone(), finish, self.accept_rule)
            }
            KernelPath::Chain | KernelPath::Tile { .. } => {
                fused(self.path, m, steps.clone(), finish, self.steps_per_dispatch)
            }
        };
        if finish && self.trace && steps.end > 0 {
            out.push(Dispatch {
                kernel: Kernel::TraceReduce,
                chains: 0,
                step_offset: 0,
                steps: steps.end,
                write_energy: false,
                layer: 0,
                groups: (steps.end.min(MAX_TRACE_GROUPS), 1),
            });
        }
        out
    }
}

/// Workgroups of trace_reduce (each takes every this-many-th step).
const MAX_TRACE_GROUPS: u32 = 4096;

/// A fused path's dispatches for `steps`: runs of at most `steps_per_dispatch` steps, and
/// with `finish` the final energy, in the last run where it spans the rest of the
/// refinement in one dispatch, else in a dispatch of its own.
fn fused(
    path: KernelPath,
    m: u32,
    steps: std::ops::Range<u32>,
    finish: bool,
    steps_per_dispatch: u32,
) -> Vec<Dispatch> {
    let (kernel, chains) = match path {
        KernelPath::Tile { chains } => (Kernel::Tile, chains),
        _ => (Kernel::Chain, 0),
    };
    let per_group = if chains == 0 { WORKGROUP_SIZE } else { chains };
    let run = |first: u32, count: u32, write_energy: bool| Dispatch {
        kernel,
        chains,
        step_offset: first,
        steps: count,
        write_energy,
        layer: 0,
        groups: (m.div_ceil(per_group), 1),
    };
    if steps_per_dispatch == u32::MAX && !steps.is_empty() {
        return vec![run(steps.start, steps.len() as u32, finish)];
    }
    let mut out: Vec<Dispatch> = steps
        .clone()
        .step_by(steps_per_dispatch.max(1) as usize)
        .map(|first| run(first, steps_per_dispatch.min(steps.end - first), false))
        .collect();
    if finish {
        out.push(run(steps.end, 0, true));
    }
    out
}

/// The layered path's dispatches.
struct Layered<'a> {
    model: &'a Model,
    m: u32,
}

impl Layered<'_> {
    fn d(
        &self,
        kernel: Kernel,
        layer: u32,
        groups: (u32, u32),
        step: u32,
        energy: bool,
    ) -> Dispatch {
        Dispatch {
            kernel,
            chains: 0,
            step_offset: step,
            steps: 1,
            write_energy: energy,
            layer,
            groups,
        }
    }

    fn chain_tiles(&self) -> u32 {
        self.m.div_ceil(LAYERED_TILE)
    }

    fn per_chain(&self, kernel: Kernel, step: u32) -> Dispatch {
        self.d(kernel, 0, (self.m.div_ceil(WORKGROUP_SIZE), 1), step, false)
    }

    /// W_x x + b of layer 0, once per refinement.
    fn xpart(&self) -> Dispatch {
        let units = (self.model.layers[0].n_out as u32).div_ceil(LAYERED_TILE);
        self.d(
            Kernel::LayeredXpart,
            0,
            (self.chain_tiles(), units),
            0,
            false,
        )
    }

    /// The forward pass and the energy (`write_energy`: the final one, which covers
    /// stopped chains too).
    fn forward(&self, out: &mut Vec<Dispatch>, step: u32, write_energy: bool) {
        for (l, layer) in self.model.layers.iter().enumerate() {
            let groups = (
                self.chain_tiles(),
                (layer.n_out as u32).div_ceil(LAYERED_TILE),
            );
            out.push(self.d(Kernel::LayeredForward, l as u32, groups, step, write_energy));
        }
        let mut output = self.per_chain(Kernel::LayeredOutput, step);
        output.write_energy = write_energy;
        out.push(output);
    }

    /// The energy and dE/dy at the current y of every chain.
    fn passes(&self, out: &mut Vec<Dispatch>, step: u32) {
        self.forward(out, step, false);
        for l in (0..self.model.layers.len()).rev() {
            let layer = &self.model.layers[l];
            let cols = if l == 0 { self.model.y_dim } else { layer.n_in };
            let groups = (self.chain_tiles(), (cols as u32).div_ceil(LAYERED_TILE));
            out.push(self.d(Kernel::LayeredBackward, l as u32, groups, step, false));
        }
    }

    fn segment(
        &self,
        steps: std::ops::Range<u32>,
        finish: bool,
        accept_rule: bool,
    ) -> Vec<Dispatch> {
        let mut out = Vec::new();
        if steps.start == 0 {
            out.push(self.xpart());
            if accept_rule && !steps.is_empty() {
                self.passes(&mut out, 0);
                out.push(self.per_chain(Kernel::LayeredStart, 0));
            }
        }
        for step in steps.clone() {
            if accept_rule {
                out.push(self.per_chain(Kernel::LayeredUpdate, step));
                self.passes(&mut out, step);
                out.push(self.per_chain(Kernel::LayeredSettle, step));
            } else {
                self.passes(&mut out, step);
                out.push(self.per_chain(Kernel::LayeredUpdate, step));
            }
        }
        if finish {
            self.forward(&mut out, steps.end, true);
        }
        out
    }
}

/// The path an evaluation takes: the one-chain eval kernel, or on llvmpipe, for a model
/// whose one pass comes near the driver's loop limit, the layered path (short loops).
/// It is also the automatic choice of a refinement's path on a CPU adapter.
pub fn eval_path(model: &Model, info: &wgpu::AdapterInfo) -> KernelPath {
    if is_llvmpipe(info) && chain_loop_iterations(model) > LLVMPIPE_LOOP_BUDGET * 3 / 2 {
        KernelPath::Layered
    } else {
        KernelPath::Chain
    }
}

/// Mesa's llvmpipe (lavapipe) silently ends every loop of a kernel invocation once 65,535
/// loop iterations have run in all (`LP_MAX_TGSI_LOOP_ITERATIONS`). The counts below are
/// estimates (measured about 12% low at the limit), so the budget keeps half in reserve.
const LLVMPIPE_LOOP_BUDGET: u64 = 30_000;

/// Whether the adapter is Mesa's llvmpipe.
pub fn is_llvmpipe(info: &wgpu::AdapterInfo) -> bool {
    let llvmpipe = |s: &str| s.to_lowercase().contains("llvmpipe");
    llvmpipe(&info.driver) || llvmpipe(&info.name)
}

/// How many steps one dispatch of a fused path may run (within a submission, which the time
/// budget sizes): on llvmpipe, as many as keep the
/// kernel's loop iterations within its budget; elsewhere all of them (`u32::MAX`). The
/// runs of one submission go in it together.
pub fn steps_per_dispatch(
    info: &wgpu::AdapterInfo,
    limits: &wgpu::Limits,
    model: &Model,
    path: KernelPath,
    config: Option<&RefineConfig>,
) -> u32 {
    let simplex = config.and_then(|c| c.simplex);
    // Accept rules, traces and stop tests add a few loops over y (and lane sums) per step;
    // accept rules also a forward and backward pass at each dispatch's start.
    let rule = config.is_some_and(|c| c.sampler != Sampler::Langevin);
    let extras = rule || config.is_some_and(|c| c.trace || c.stop.any());
    let y_dim = model.y_dim as u64;
    if !is_llvmpipe(info) {
        return u32::MAX;
    }
    // Simplex projection: per group, g rounds over g coordinates plus the sum and the write,
    // for every group of a chain (chain path) or a thread's share of them (tile).
    let projection = |groups_per_thread: u64| {
        simplex.map_or(0, |g| {
            let g = u64::from(g);
            groups_per_thread * (g * (g + 1) + 2 * g + 3) + 2
        })
    };
    let groups = |g: u32| (model.y_dim as u64).div_ceil(u64::from(g.max(1)));
    let (fixed, per_step) = match path {
        KernelPath::Chain => {
            let per_chain = simplex.map_or(0, groups);
            let step = chain_loop_iterations(model) + projection(per_chain);
            let extra = if extras { 6 * (y_dim + 1) + 4 } else { 0 };
            (if rule { step + y_dim } else { 0 }, step + extra)
        }
        KernelPath::Tile { chains } => {
            let (fixed, per_step) =
                tile_loop_iterations(model, chains, tile_k(model, chains, limits));
            let lanes = u64::from(TILE_THREADS / (chains / 4));
            let per_thread = simplex.map_or(0, |g| groups(g).div_ceil(lanes));
            let units = u64::from(MAX_UNITS) + 1;
            let step = per_step + projection(per_thread) + u64::from(MAX_UNITS);
            let extra = if extras {
                3 * (units + lanes + 8) + 2 * units + 24
            } else {
                0
            };
            (
                fixed + per_thread * 40 + if rule { step + extra } else { 0 },
                step + extra,
            )
        }
        KernelPath::Layered => return u32::MAX,
    };
    (LLVMPIPE_LOOP_BUDGET.saturating_sub(fixed) / per_step.max(1)).clamp(1, u64::from(u32::MAX))
        as u32
}

/// Loop iterations of one step of chain.wgsl (dot products unrolled by 8).
fn chain_loop_iterations(model: &Model) -> u64 {
    let dot = |n: usize| (n / 8 + n % 8 + 2) as u64;
    let (mut forward, mut backward) = (0u64, 0u64);
    for (l, layer) in model.layers.iter().enumerate() {
        let inner = if l == 0 {
            dot(model.x_dim) + dot(model.y_dim)
        } else {
            dot(layer.n_in)
        };
        forward += 1 + layer.n_out as u64 * (inner + 1);
        if l > 0 {
            backward += 1 + layer.n_in as u64 * (dot(layer.n_out) + 1);
        }
    }
    let y_dim = model.y_dim as u64;
    forward += model.layers.last().map_or(0, |l| l.n_out as u64) + 1;
    backward += y_dim * (dot(model.layers[0].n_out) + 1);
    // Update: per block of 4 coordinates, 10 Philox rounds and up to 4 updates.
    let update = (y_dim / 4 + 1) * 15 + y_dim + 1;
    forward + backward + update + 1
}

/// Loop iterations of tile.wgsl: (once per dispatch, per step), for the busiest thread.
fn tile_loop_iterations(model: &Model, chains: u32, k_tile: u32) -> (u64, u64) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::r1_spec;
    use crate::ModelSpec;

    fn r1() -> Model {
        Model::random(&r1_spec(), 0).unwrap()
    }

    fn plan(path: KernelPath, model: &Model, m: u32, spd: u32, rule: bool) -> RefinePlan<'_> {
        RefinePlan {
            path,
            model,
            chains: m,
            steps_per_dispatch: spd,
            accept_rule: rule,
            trace: true,
        }
    }

    fn whole(path: KernelPath, model: &Model, m: u32, steps: u32, spd: u32) -> Vec<Dispatch> {
        RefinePlan {
            trace: false,
            ..plan(path, model, m, spd, false)
        }
        .segment(0..steps, true)
    }

    #[test]
    fn fused_paths_take_one_dispatch_per_refinement_off_llvmpipe() {
        let model = r1();
        for path in [KernelPath::Chain, KernelPath::Tile { chains: 16 }] {
            let plan = whole(path, &model, 8192, 1000, u32::MAX);
            assert_eq!(plan.len(), 1, "{path}");
            assert_eq!((plan[0].steps, plan[0].write_energy), (1000, true));
        }
        let layered = whole(KernelPath::Layered, &model, 8192, 10, u32::MAX);
        // 2L + 2 per step, L + 1 for the final energy, 1 for W_x x + b.
        assert_eq!(layered.len(), 10 * (2 * 4 + 2) + 4 + 1 + 1);
    }

    #[test]
    fn runs_of_steps_cover_every_step_once() {
        let model = r1();
        let plan = whole(KernelPath::Tile { chains: 4 }, &model, 10, 10, 3);
        let runs: Vec<_> = plan.iter().map(|d| (d.step_offset, d.steps)).collect();
        assert_eq!(runs, [(0, 3), (3, 3), (6, 3), (9, 1), (10, 0)]);
        assert!(plan.iter().rev().skip(1).all(|d| !d.write_energy));
        assert!(plan.last().unwrap().write_energy);
    }

    /// Submissions over consecutive step ranges make the same dispatches as one submission,
    /// in order, whatever the split: the path the results come from does not change.
    #[test]
    fn segments_cover_the_refinement_like_one_submission() {
        let model = r1();
        for path in [
            KernelPath::Chain,
            KernelPath::Tile { chains: 8 },
            KernelPath::Layered,
        ] {
            for rule in [false, true] {
                let one = plan(path, &model, 100, 2, rule).segment(0..7, true);
                let mut split = Vec::new();
                for (range, finish) in [(0..3, false), (3..4, false), (4..7, true)] {
                    split.extend(plan(path, &model, 100, 2, rule).segment(range, finish));
                }
                let key = |d: &Dispatch| (d.kernel, d.step_offset, d.layer, d.write_energy);
                let steps = |plan: &[Dispatch]| -> Vec<u32> {
                    let mut covered: Vec<u32> = plan
                        .iter()
                        .filter(|d| d.kernel != Kernel::TraceReduce)
                        .flat_map(|d| d.step_offset..d.step_offset + d.steps)
                        .collect();
                    covered.dedup();
                    covered
                };
                assert_eq!(steps(&one), steps(&split), "{path} rule {rule}");
                if path == KernelPath::Layered {
                    let one: Vec<_> = one.iter().map(key).collect();
                    let split: Vec<_> = split.iter().map(key).collect();
                    assert_eq!(one, split, "{path} rule {rule}");
                }
                // The trace is reduced once, at the end, over every step.
                let reduce: Vec<_> = split
                    .iter()
                    .filter(|d| d.kernel == Kernel::TraceReduce)
                    .collect();
                assert_eq!(reduce.len(), 1);
                assert_eq!(reduce[0].steps, 7);
            }
        }
        // A refinement cancelled before its first step still gets its energy (and W_x x + b).
        let cancelled = plan(KernelPath::Layered, &model, 100, 2, true).segment(0..0, true);
        assert_eq!(cancelled[0].kernel, Kernel::LayeredXpart);
        assert!(cancelled.last().unwrap().write_energy);
        assert!(cancelled.iter().all(|d| d.kernel != Kernel::TraceReduce));
        // Cancelled after 5 steps: the energy, and the trace of those 5 steps.
        let fused = plan(KernelPath::Chain, &model, 100, u32::MAX, false).segment(5..5, true);
        assert_eq!(fused.len(), 2);
        assert_eq!((fused[1].kernel, fused[1].steps), (Kernel::TraceReduce, 5));
        assert_eq!(
            (fused[0].step_offset, fused[0].steps, fused[0].write_energy),
            (5, 0, true)
        );
    }

    #[test]
    fn evaluations_run_one_pass() {
        let model = r1();
        assert_eq!(evaluation(KernelPath::Chain, &model, 100).len(), 1);
        let layered = evaluation(KernelPath::Layered, &model, 100);
        // W_x x + b, L forward products and the output, L backward products.
        assert_eq!(layered.len(), 1 + 4 + 1 + 4);
        assert!(layered.iter().all(|d| d.kernel != Kernel::LayeredUpdate));
    }

    #[test]
    fn choice_follows_batch_and_width() {
        let model = r1();
        let limits = wgpu::Limits::default();
        let gpu = wgpu::AdapterInfo::new(wgpu::DeviceType::DiscreteGpu, wgpu::Backend::Vulkan);
        let pick = |n| choose(PathChoice::Auto, &model, n, &gpu, &limits).unwrap();
        // r1 needs 4 (256 x (chains + 8)) bytes and 4 KiB of lane sums: more than
        // WebGPU's default 16 KiB even at 4 chains.
        assert_eq!(pick(64), KernelPath::Layered);
        // With 32 KiB (lavapipe): up to 16 chains.
        let mid = wgpu::Limits {
            max_compute_workgroup_storage_size: 32 << 10,
            ..limits.clone()
        };
        let pick = |n| choose(PathChoice::Auto, &model, n, &gpu, &mid).unwrap();
        assert_eq!(pick(64), KernelPath::Tile { chains: 4 });
        assert_eq!(pick(8192), KernelPath::Tile { chains: 16 });
        // With 48 KiB (NVIDIA through Vulkan): the 32-chain tile from 4096 chains up.
        let big = wgpu::Limits {
            max_compute_workgroup_storage_size: 48 << 10,
            ..limits.clone()
        };
        let pick = |n| choose(PathChoice::Auto, &model, n, &gpu, &big).unwrap();
        assert_eq!(pick(64), KernelPath::Tile { chains: 4 });
        assert_eq!(pick(1024), KernelPath::Tile { chains: 8 });
        assert_eq!(pick(8192), KernelPath::Tile { chains: 32 });
        assert_eq!(pick(65536), KernelPath::Tile { chains: 32 });
        // Small tiles stage more weight rows per round, within the same memory.
        assert_eq!(tile_k(&model, 32, &big), 8);
        assert_eq!(tile_k(&model, 16, &big), 16);
        assert_eq!(tile_k(&model, 4, &big), 32);
        assert_eq!(tile_k(&model, 4, &mid), 16);
        let wide = Model::random(
            &ModelSpec {
                hidden: vec![4096],
                ..r1_spec()
            },
            0,
        )
        .unwrap();
        assert_eq!(
            choose(PathChoice::Auto, &wide, 8192, &gpu, &limits).unwrap(),
            KernelPath::Layered
        );
        let cpu = wgpu::AdapterInfo::new(wgpu::DeviceType::Cpu, wgpu::Backend::Vulkan);
        assert_eq!(
            choose(PathChoice::Auto, &model, 8192, &cpu, &limits).unwrap(),
            KernelPath::Chain
        );
        let forced = choose(PathChoice::AnyTile, &wide, 8192, &gpu, &limits).unwrap_err();
        assert!(forced.to_string().contains("PathChoice"), "{forced}");
    }
}
