//! Mesa's llvmpipe (lavapipe) silently ends every loop of a kernel invocation once 65,535
//! loop iterations have run in all: how many steps one dispatch of a fused path may run
//! there, from the kernels' loop counts.

use super::KernelPath;
use crate::kernels::compiled::Compiled;
use crate::kernels::constants::{MAX_UNITS, TILE_THREADS};
use crate::kernels::{fused, tile};
use crate::refine::config::{RefineConfig, Sampler};

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
    compiled: &Compiled,
    path: KernelPath,
    config: &RefineConfig,
) -> u32 {
    let simplex = config.simplex;
    // Accept rules, traces and stop tests add a few loops over y (and lane sums) per step;
    // accept rules also a forward and backward pass at each dispatch's start.
    let rule = config.sampler != Sampler::Langevin;
    let extras = rule || config.trace || config.stop.any();
    let y_dim = compiled.infer.y_dim as u64;
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
    let groups = |g: u32| y_dim.div_ceil(u64::from(g.max(1)));
    let (fixed, per_step) = match path {
        KernelPath::Chain => {
            let per_chain = simplex.map_or(0, groups);
            let step = fused::chain_loop_iterations(compiled) + projection(per_chain);
            let pre = compiled.loops.pre;
            let extra = if extras { 6 * (y_dim + 1) + 4 } else { 0 };
            (pre + if rule { step + y_dim } else { 0 }, step + extra)
        }
        KernelPath::Tile { chains } => {
            let _ = limits;
            let (fixed, per_step) = tile::loop_iterations(compiled, chains);
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

/// Loop iterations near which one pass of a kernel is too long for llvmpipe: the budget
/// with half its reserve (the counts are estimates, about 12% low).
const LLVMPIPE_PASS_LIMIT: u64 = LLVMPIPE_LOOP_BUDGET * 3 / 2;

/// llvmpipe's limit itself (`LP_MAX_TGSI_LOOP_ITERATIONS`): a step whose estimated loops
/// pass it cannot be right there. Between the budget and this, the start-up self-check
/// decides (the tile kernel filled to its registers runs 61,128 by the estimate, and matches
/// the reference).
const LLVMPIPE_LOOP_LIMIT: u64 = 65_535;

/// Whether one pass of the one-chain eval kernel over `model` comes near the loop limit.
pub(crate) fn eval_too_long(compiled: &Compiled) -> bool {
    compiled.loops.pre + fused::chain_loop_iterations(compiled) > LLVMPIPE_PASS_LIMIT
}

/// Why a fused `path` cannot run even one step of `compiled` on llvmpipe, if it cannot:
/// its loops, x's part and a step's forward and backward passes, would pass the driver's
/// limit, which ends them silently (wrong answers, not an error). The layered path's loops
/// are short.
pub(crate) fn one_step_too_long(compiled: &Compiled, path: KernelPath) -> Option<String> {
    let iterations = match path {
        KernelPath::Chain => compiled.loops.pre + fused::chain_loop_iterations(compiled),
        KernelPath::Tile { chains } => {
            let (fixed, per_step) = tile::loop_iterations(compiled, chains);
            fixed + per_step + u64::from(MAX_UNITS)
        }
        KernelPath::Layered => return None,
    };
    (iterations > LLVMPIPE_LOOP_LIMIT).then(|| {
        format!(
            "one step runs about {iterations} loop iterations per invocation, and llvmpipe silently ends an invocation's loops after {LLVMPIPE_LOOP_LIMIT}; the layered path runs it"
        )
    })
}
