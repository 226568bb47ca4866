//! Which kernel path runs a call, and the dispatches it takes: the kernel families of
//! `crate::kernels` composed. `llvmpipe` bounds the steps of one dispatch on Mesa's
//! software adapter.
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

mod llvmpipe;
pub(crate) mod path;
#[cfg(test)]
mod tests;

pub use llvmpipe::{is_llvmpipe, steps_per_dispatch};

use crate::error::{Error, Result};
use crate::kernels::compiled::Compiled;
use crate::kernels::constants::TILE_CHAINS;
use crate::kernels::{eval, exchange, fused, layered::Layered, tile, trace, Dispatch};
pub use crate::plan::path::{KernelPath, PathChoice};
/// Workgroups the automatic choice wants a refinement to fill before it grows the tile.
const TARGET_WORKGROUPS: usize = 128;

/// Every path that can run a compiled model within `limits`: chain, each tile size that
/// fits, layered.
pub fn fitting_paths(compiled: &Compiled, limits: &wgpu::Limits) -> Vec<KernelPath> {
    let mut paths = vec![KernelPath::Chain];
    paths.extend(
        tile::fitting_program(&compiled.infer, limits)
            .into_iter()
            .map(|chains| KernelPath::Tile { chains }),
    );
    paths.push(KernelPath::Layered);
    paths
}

/// The path `choice` resolves to for a batch of `n` chains.
pub fn choose(
    choice: PathChoice,
    compiled: &Compiled,
    n: usize,
    info: &wgpu::AdapterInfo,
    limits: &wgpu::Limits,
) -> Result<KernelPath> {
    let program = &compiled.infer;
    let fits = |chains: u32| {
        tile::misfit_program(program, chains, limits).is_none()
            && !(is_llvmpipe(info)
                && llvmpipe::one_step_too_long(compiled, KernelPath::Tile { chains }).is_some())
    };
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
    // A fused path whose one step passes llvmpipe's loop limit is refused by name: the
    // driver would cut its loops short and return wrong answers (the self-check, run later,
    // is the last defence, not the first).
    let too_long = |path: KernelPath| match is_llvmpipe(info) {
        true => llvmpipe::one_step_too_long(compiled, path),
        false => None,
    };
    match choice {
        PathChoice::Exactly(path) if too_long(path).is_some() => Err(Error::config(
            "PathChoice",
            format!(
                "{path} on {}: {}",
                info.name,
                too_long(path).unwrap_or_default()
            ),
        )),
        PathChoice::Exactly(KernelPath::Tile { chains }) => {
            match tile::misfit_program(program, chains, limits) {
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
                    tile::misfit_program(program, 4, limits).unwrap_or_default()
                ),
            )),
        },
        PathChoice::Auto => Ok(if info.device_type == wgpu::DeviceType::Cpu {
            // One chain per invocation, unless one step alone comes near llvmpipe's loop
            // limit: then a dispatch per layer, whose loops are short.
            eval_path(compiled, info)
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
    compiled: &Compiled,
    info: &wgpu::AdapterInfo,
    limits: &wgpu::Limits,
) -> Vec<KernelPath> {
    let mut out = Vec::new();
    // Batches from 1 to well past where the largest tile is taken.
    for n in [1usize, 1 << 10, 1 << 11, 1 << 12, 1 << 13, 1 << 20] {
        if let Ok(path) = choose(choice, compiled, n, info, limits) {
            if !out.contains(&path) {
                out.push(path);
            }
        }
    }
    out
}

/// The dispatches of an evaluation of `m` chains on `path` (see [`eval_path`]).
pub fn evaluation(path: KernelPath, compiled: &Compiled, m: u32) -> Vec<Dispatch> {
    eval::dispatches(path, compiled, m)
}

/// How one chunk of a refinement runs: its path, its `chains` (m), and what shapes its
/// dispatches. Its submissions are [`RefinePlan::segment`]s over consecutive step ranges
/// from 0.
#[derive(Clone, Copy, Debug)]
pub struct RefinePlan<'a> {
    /// The kernel path.
    pub path: KernelPath,
    /// The compiled model.
    pub compiled: &'a Compiled,
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
    /// Replica exchange's swap rounds, if any.
    pub exchange: Option<ExchangePlan>,
    /// The steps after 0 where a new landscape or clamp range begins
    /// (`RefineConfig::spans`): no dispatch crosses one, and the energy and what depends
    /// on x and t alone are computed anew there.
    pub boundaries: &'a [u32],
}

/// When replica exchange's swap rounds come in a refinement.
#[derive(Clone, Copy, Debug)]
pub struct ExchangePlan {
    /// Chains per group.
    pub replicas: u32,
    /// Steps between rounds.
    pub every: u32,
    /// Steps of the whole refinement (no round follows the last).
    pub steps: u32,
}

impl RefinePlan<'_> {
    /// The dispatches of one submission: steps `steps.start..steps.end`; `finish` ends the
    /// refinement after `steps.end` steps (all of them, or fewer when it was cancelled):
    /// the final energy, and with `trace` the trace's reduction.
    /// With replica exchange the steps run in pieces that end where a swap round comes:
    /// each such piece ends with the energy of every chain, then the round.
    pub fn segment(&self, steps: std::ops::Range<u32>, finish: bool) -> Vec<Dispatch> {
        let pieces = match self.exchange {
            Some(x) => exchange::pieces(steps.clone(), x.every, x.steps),
            None => vec![steps.clone()],
        };
        let last = pieces.len() - 1;
        let mut out = Vec::new();
        for (i, piece) in pieces.into_iter().enumerate() {
            let end_of_call = finish && i == last;
            let round = self
                .exchange
                .filter(|x| !end_of_call && exchange::swaps_after(piece.end, x.every, x.steps));
            out.extend(self.steps(piece.clone(), end_of_call || round.is_some()));
            if let Some(x) = round {
                out.push(exchange::round(self.chains, x.replicas, piece.end));
            }
        }
        if finish && self.trace && steps.end > 0 {
            out.push(trace::reduction(steps.end));
        }
        out
    }

    /// The path's dispatches for `steps`, with `energy` the energy of every chain after
    /// them.
    fn steps(&self, steps: std::ops::Range<u32>, energy: bool) -> Vec<Dispatch> {
        let (m, compiled) = (self.chains, self.compiled);
        match self.path {
            KernelPath::Layered => {
                Layered { compiled, m }.segment(steps, energy, self.accept_rule, self.boundaries)
            }
            KernelPath::Chain | KernelPath::Tile { .. } => {
                // A fused dispatch starts with what depends on x and t alone and, with an
                // accept rule, the energy at the current y: one run per landscape.
                let mut cuts: Vec<u32> = self
                    .boundaries
                    .iter()
                    .copied()
                    .filter(|b| steps.start < *b && *b < steps.end)
                    .collect();
                cuts.insert(0, steps.start);
                cuts.push(steps.end);
                let last = cuts.len() - 2;
                let mut out = Vec::new();
                for (i, w) in cuts.windows(2).enumerate() {
                    out.extend(fused::dispatches(
                        self.path,
                        m,
                        w[0]..w[1],
                        energy && i == last,
                        self.steps_per_dispatch,
                    ));
                }
                out
            }
        }
    }
}

/// The path an evaluation takes: the one-chain eval kernel, or on llvmpipe, for a model
/// whose one pass comes near the driver's loop limit, the layered path (short loops).
/// It is also the automatic choice of a refinement's path on a CPU adapter.
pub fn eval_path(compiled: &Compiled, info: &wgpu::AdapterInfo) -> KernelPath {
    if is_llvmpipe(info) && llvmpipe::eval_too_long(compiled) {
        KernelPath::Layered
    } else {
        KernelPath::Chain
    }
}
