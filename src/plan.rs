//! Which kernel path runs a refinement, and the dispatches it takes.
//!
//! Three paths, each written up with its cost model at the top of its shader:
//! - `chain` (shaders/refine.wgsl): one chain per invocation, layer state in device memory.
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
use crate::error::{Error, Result};
use crate::model::Model;
use crate::shader::Kernel;

/// Threads per workgroup of the one-dimensional kernels.
pub const WORKGROUP_SIZE: u32 = 64;
/// Threads per workgroup of the tile kernel.
pub const TILE_THREADS: u32 = 256;
/// Weight rows the tile kernel stages per round (`K_TILE` in tile.wgsl): the smallest, and
/// the largest the host tries. Each round costs two barriers, so small tiles, which leave
/// workgroup memory free, take more rows per round: fewer barriers per step (latency).
pub const TILE_K: u32 = 8;
const TILE_K_MAX: u32 = 32;
/// vec4 accumulators per thread in tile.wgsl (`MAX_UNITS`).
pub const TILE_MAX_UNITS: u32 = 8;
/// vec4s of act'(z) per thread in tile.wgsl (`MAX_SAVED`).
pub const TILE_MAX_SAVED: u32 = 32;
/// Chains per workgroup the tile kernel is built for.
pub const TILE_CHAINS: [u32; 4] = [4, 8, 16, 32];
/// Output tile edge of the layered path's matrix products (`TILE` in layered.wgsl).
pub const LAYERED_TILE: u32 = 16;
/// Workgroups the automatic choice wants a refinement to fill before it grows the tile.
const TARGET_WORKGROUPS: usize = 128;

/// The kernel path a refinement runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelPath {
    /// One chain per invocation (shaders/refine.wgsl).
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
    /// The tile kernel with the tile size `ebm` would choose for the batch.
    Tile,
    /// Exactly this path.
    Exactly(KernelPath),
}

impl FromStr for PathChoice {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "auto" => PathChoice::Auto,
            "chain" => PathChoice::Exactly(KernelPath::Chain),
            "tile" => PathChoice::Tile,
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

/// Rows of the tile kernel's activation buffer: the widest layer, x_dim and y_dim included.
pub fn tile_width(model: &Model) -> u32 {
    let widest = model.layers.iter().map(|l| l.n_out).max().unwrap_or(0);
    widest.max(model.x_dim).max(model.y_dim) as u32
}

/// Bytes of workgroup memory the tile kernel needs for `chains` chains per workgroup and
/// `k_tile` weight rows per round: activations, a weight tile, and lane_sum's partial sums
/// (with its slot counter).
pub fn tile_workgroup_bytes(model: &Model, chains: u32, k_tile: u32) -> u64 {
    4 * u64::from(tile_width(model)) * u64::from(chains + k_tile)
        + 16 * u64::from(TILE_THREADS)
        + 16
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
    if width.div_ceil(lanes) > TILE_MAX_UNITS {
        return Some(format!(
            "a layer {width} wide needs more than {TILE_MAX_UNITS} vec4 registers per thread at {chains} chains per workgroup"
        ));
    }
    let hidden = &model.layers[..model.layers.len() - 1];
    let saved: u32 = hidden.iter().map(|l| owned(l.n_out)).sum();
    if saved > TILE_MAX_SAVED {
        return Some(format!(
            "the hidden layers need {saved} vec4s of act'(z) per thread at {chains} chains per workgroup, more than {TILE_MAX_SAVED}"
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
                Some(why) => Err(Error::option("--kernel", format!("tile{chains}: {why}"))),
            }
        }
        PathChoice::Exactly(path) => Ok(path),
        PathChoice::Tile => match tile() {
            Some(chains) => Ok(KernelPath::Tile { chains }),
            None => Err(Error::option(
                "--kernel",
                format!(
                    "tile: {}",
                    tile_misfit(model, 4, limits).unwrap_or_default()
                ),
            )),
        },
        PathChoice::Auto => Ok(if info.device_type == wgpu::DeviceType::Cpu {
            // One chain per invocation, unless one step alone comes near llvmpipe's loop
            // limit: then a dispatch per layer, whose loops are short.
            if is_llvmpipe(info) && chain_loop_iterations(model) > LLVMPIPE_LOOP_BUDGET * 3 / 2 {
                KernelPath::Layered
            } else {
                KernelPath::Chain
            }
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

/// The dispatches of a refinement of `m` chains (`steps` = None: an evaluation), in order.
/// `steps_per_dispatch` splits a fused path's steps into runs (llvmpipe, see
/// [`steps_per_dispatch`]); `u32::MAX` runs every step in one dispatch. `accept_rule`
/// (MALA, keep-if-lower) orders the layered path's dispatches for proposals; `trace` ends
/// the refinement with the trace's reduction.
pub fn dispatches(
    path: KernelPath,
    model: &Model,
    m: u32,
    steps: Option<u32>,
    steps_per_dispatch: u32,
    accept_rule: bool,
    trace: bool,
) -> Vec<Dispatch> {
    let mut out = refinement_dispatches(path, model, m, steps, steps_per_dispatch, accept_rule);
    if let Some(steps) = steps.filter(|&k| trace && k > 0) {
        out.push(Dispatch {
            kernel: Kernel::TraceReduce,
            chains: 0,
            step_offset: 0,
            steps,
            write_energy: false,
            layer: 0,
            groups: (steps.min(MAX_TRACE_GROUPS), 1),
        });
    }
    out
}

/// Workgroups of trace_reduce (each takes every this-many-th step).
const MAX_TRACE_GROUPS: u32 = 4096;

fn refinement_dispatches(
    path: KernelPath,
    model: &Model,
    m: u32,
    steps: Option<u32>,
    steps_per_dispatch: u32,
    accept_rule: bool,
) -> Vec<Dispatch> {
    let base = Dispatch {
        kernel: Kernel::Eval,
        chains: 0,
        step_offset: 0,
        steps: 0,
        write_energy: true,
        layer: 0,
        groups: (m.div_ceil(WORKGROUP_SIZE), 1),
    };
    let Some(steps) = steps else {
        return vec![base];
    };
    let (kernel, chains) = match path {
        KernelPath::Chain => (Kernel::Refine, 0),
        KernelPath::Tile { chains } => (Kernel::Tile, chains),
        KernelPath::Layered => return layered(model, m, steps, accept_rule),
    };
    let per_group = if chains == 0 { WORKGROUP_SIZE } else { chains };
    let fused = Dispatch {
        kernel,
        chains,
        groups: (m.div_ceil(per_group), 1),
        ..base
    };
    if steps_per_dispatch == u32::MAX {
        return vec![Dispatch { steps, ..fused }];
    }
    let mut out: Vec<_> = (0..steps)
        .step_by(steps_per_dispatch as usize)
        .map(|first| Dispatch {
            step_offset: first,
            steps: steps_per_dispatch.min(steps - first),
            write_energy: false,
            ..fused
        })
        .collect();
    out.push(Dispatch {
        step_offset: steps,
        ..fused
    });
    out
}

fn layered(model: &Model, m: u32, steps: u32, accept_rule: bool) -> Vec<Dispatch> {
    let chains = m.div_ceil(LAYERED_TILE);
    let units = |n: usize| (n as u32).div_ceil(LAYERED_TILE);
    let n_layers = model.layers.len() as u32;
    let one_d = (m.div_ceil(WORKGROUP_SIZE), 1);
    let d = |kernel, layer: u32, groups, step_offset, write_energy| Dispatch {
        kernel,
        chains: 0,
        step_offset,
        steps: 1,
        write_energy,
        layer,
        groups,
    };
    // The final pass (write_energy) covers stopped chains too.
    let forward = |out: &mut Vec<Dispatch>, step, write_energy| {
        for (l, layer) in model.layers.iter().enumerate() {
            let groups = (chains, units(layer.n_out));
            out.push(d(
                Kernel::LayeredForward,
                l as u32,
                groups,
                step,
                write_energy,
            ));
        }
        out.push(d(Kernel::LayeredOutput, 0, one_d, step, write_energy));
    };
    let first = &model.layers[0];
    let mut out = vec![d(
        Kernel::LayeredXpart,
        0,
        (chains, units(first.n_out)),
        0,
        false,
    )];
    // The energy and dE/dy at the current y of every chain.
    let passes = |out: &mut Vec<Dispatch>, step| {
        forward(out, step, false);
        for l in (0..n_layers).rev() {
            let layer = &model.layers[l as usize];
            let cols = if l == 0 { model.y_dim } else { layer.n_in };
            out.push(d(
                Kernel::LayeredBackward,
                l,
                (chains, units(cols)),
                step,
                false,
            ));
        }
    };
    if accept_rule && steps > 0 {
        passes(&mut out, 0);
        out.push(d(Kernel::LayeredStart, 0, one_d, 0, false));
    }
    for step in 0..steps {
        if accept_rule {
            out.push(d(Kernel::LayeredUpdate, 0, one_d, step, false));
            passes(&mut out, step);
            out.push(d(Kernel::LayeredSettle, 0, one_d, step, false));
        } else {
            passes(&mut out, step);
            out.push(d(Kernel::LayeredUpdate, 0, one_d, step, false));
        }
    }
    forward(&mut out, steps, true);
    out
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

/// How many steps one dispatch of a fused path may run: on llvmpipe, as many as keep the
/// kernel's loop iterations within its budget; elsewhere all of them (`u32::MAX`). The
/// runs of one refinement still go in one submission.
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
            let units = u64::from(TILE_MAX_UNITS) + 1;
            let step = per_step + projection(per_thread) + u64::from(TILE_MAX_UNITS);
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

/// Loop iterations of one step of refine.wgsl (dot products unrolled by 8).
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
    let units = u64::from(TILE_MAX_UNITS) + 1;
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

    #[test]
    fn fused_paths_take_one_dispatch_per_refinement_off_llvmpipe() {
        let model = r1();
        for path in [KernelPath::Chain, KernelPath::Tile { chains: 16 }] {
            let plan = dispatches(path, &model, 8192, Some(1000), u32::MAX, false, false);
            assert_eq!(plan.len(), 1, "{path}");
            assert_eq!((plan[0].steps, plan[0].write_energy), (1000, true));
        }
        let layered = dispatches(
            KernelPath::Layered,
            &model,
            8192,
            Some(10),
            u32::MAX,
            false,
            false,
        );
        // 2L + 2 per step, L + 1 for the final energy, 1 for W_x x + b.
        assert_eq!(layered.len(), 10 * (2 * 4 + 2) + 4 + 1 + 1);
    }

    #[test]
    fn runs_of_steps_cover_every_step_once() {
        let model = r1();
        let plan = dispatches(
            KernelPath::Tile { chains: 4 },
            &model,
            10,
            Some(10),
            3,
            false,
            false,
        );
        let runs: Vec<_> = plan.iter().map(|d| (d.step_offset, d.steps)).collect();
        assert_eq!(runs, [(0, 3), (3, 3), (6, 3), (9, 1), (10, 0)]);
        assert!(plan.iter().rev().skip(1).all(|d| !d.write_energy));
        assert!(plan.last().unwrap().write_energy);
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
        let forced = choose(PathChoice::Tile, &wide, 8192, &gpu, &limits).unwrap_err();
        assert!(forced.to_string().contains("--kernel"), "{forced}");
    }
}
