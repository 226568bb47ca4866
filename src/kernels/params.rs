//! Host twins of the structs in `shaders/bindings.wgsl` (kept in sync by the tests below,
//! which compare sizes and field offsets with naga's layout of the WGSL), and how a
//! refinement's settings fill the uniform block.

use bytemuck::{Pod, Zeroable};

/// The uniform block of the kernels of a refinement (`Params` in WGSL).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct Params {
    pub n_chains: u32,
    pub chain_offset: u32,
    pub steps: u32,
    pub step_offset: u32,
    pub x_dim: u32,
    pub y_dim: u32,
    pub stride: u32,
    pub seed_lo: u32,
    pub seed_hi: u32,
    pub prior_l2: f32,
    pub use_clamp: u32,
    pub clamp_lo: f32,
    pub clamp_hi: f32,
    pub write_energy: u32,
    pub layer: u32,
    pub clip_grad: f32,
    pub use_fixed: u32,
    pub simplex: u32,
    pub shrink: f32,
    pub rise_tolerance: f32,
    pub adapt_steps: u32,
    pub target_accept: f32,
    pub stop_flags: u32,
    pub stop_grad: f32,
    pub stop_change: f32,
    pub stop_below: f32,
    pub trace: u32,
    pub save: u32,
    pub trace_summary: u32,
    pub replicas: u32,
    pub exchange_every: u32,
    pub fixed_at: u32,
    pub dy: u32,
    pub landscape: f32,
    pub take_every_step: u32,
    pub mark: u32,
}

impl Params {
    /// `self` with the fields a refinement's settings give: noise seed, prior, clamp,
    /// clipping, simplex groups, the sampler's and the stop rule's.
    pub fn with_settings(self, config: &RefineConfig) -> Params {
        let mut p = self;
        let clamp = config.clamp.unwrap_or((0.0, 0.0));
        p.seed_lo = config.seed as u32;
        p.seed_hi = (config.seed >> 32) as u32;
        p.chain_offset = config.chain_offset;
        p.prior_l2 = config.prior_l2;
        p.use_clamp = u32::from(config.clamp.is_some());
        p.clamp_lo = clamp.0;
        p.clamp_hi = clamp.1;
        p.clip_grad = config.clip_grad.unwrap_or(0.0);
        p.simplex = config.simplex.unwrap_or(0);
        if let Some(exchange) = &config.exchange {
            p.replicas = exchange.replicas;
            p.exchange_every = exchange.every;
        }
        match config.sampler {
            Sampler::Langevin => {}
            Sampler::Mala {
                adapt_steps,
                target_accept,
            } => {
                p.adapt_steps = adapt_steps;
                p.target_accept = target_accept;
            }
            Sampler::KeepIfLower {
                shrink,
                rise_tolerance,
            } => {
                p.shrink = shrink;
                p.rise_tolerance = rise_tolerance;
            }
        }
        let stop = config.stop;
        for (bit, value, field) in [
            (STOP_GRAD, stop.grad, &mut p.stop_grad),
            (STOP_CHANGE, stop.change, &mut p.stop_change),
            (STOP_BELOW, stop.below, &mut p.stop_below),
        ] {
            if let Some(v) = value {
                *field = v;
                p.stop_flags |= bit;
            }
        }
        p
    }
}

pub use crate::kernels::constants::RUNNING;
use crate::kernels::constants::{
    STOP_BELOW, STOP_CHANGE, STOP_GRAD, WALKER_TRIPS_SHIFT, WALKER_UP,
};
use crate::refine::config::{RefineConfig, Sampler};

/// One chain's state across steps and dispatches (`ChainState` in WGSL).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq)]
pub struct ChainState {
    pub energy: f32,
    pub step_scale: f32,
    pub steps_taken: u32,
    pub accepted: u32,
    pub change: f32,
    pub non_finite_at: u32,
    pub adapt_error: f32,
    pub adapt_log_scale: f32,
    pub warmup_accepted: u32,
    pub heat: f32,
    pub walker: u32,
    pub swaps_proposed: u32,
    pub swaps_accepted: u32,
    pub energy_out: f32,
    pub mark: u32,
}

impl ChainState {
    /// The state before the first step.
    pub fn start() -> Self {
        ChainState {
            step_scale: 1.0,
            steps_taken: RUNNING,
            change: f32::MAX,
            non_finite_at: RUNNING,
            heat: 1.0,
            ..Default::default()
        }
    }

    /// The state before the first step of replica `slot` of a replica-exchange group at
    /// temperature factor `heat`: the walker of the coldest replica starts heading up.
    pub fn start_replica(slot: usize, heat: f32) -> Self {
        ChainState {
            heat,
            walker: if slot == 0 { WALKER_UP } else { 0 },
            ..ChainState::start()
        }
    }

    /// Round trips (coldest to hottest and back) the walker now in this chain completed.
    pub fn round_trips(&self) -> u32 {
        self.walker >> WALKER_TRIPS_SHIFT
    }
}

/// Size and (member, offset) of struct `name` as naga lays out shader file `file` (for the
/// tests that hold host twins to their WGSL structs).
#[cfg(test)]
pub(crate) fn wgsl_layout_in(file: &str, name: &str) -> (u32, Vec<(String, u32)>) {
    let module = naga::front::wgsl::parse_str(&crate::kernels::prelude_and(file).unwrap()).unwrap();
    let (_, ty) = module
        .types
        .iter()
        .find(|(_, t)| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("struct {name} not in {file}"));
    match &ty.inner {
        naga::TypeInner::Struct { members, span } => (
            *span,
            members
                .iter()
                .map(|m| (m.name.clone().unwrap(), m.offset))
                .collect(),
        ),
        _ => panic!("{name} is not a struct"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    fn wgsl_layout(name: &str) -> (u32, Vec<(String, u32)>) {
        wgsl_layout_in("bindings.wgsl", name)
    }

    macro_rules! offsets {
        ($ty:ty; $($field:ident),*) => {
            vec![$((stringify!($field).to_string(), offset_of!($ty, $field) as u32)),*]
        };
    }

    #[test]
    fn params_match_wgsl() {
        let (size, members) = wgsl_layout("Params");
        assert_eq!(size as usize, size_of::<Params>());
        let host = offsets!(Params; n_chains, chain_offset, steps, step_offset, x_dim, y_dim,
            stride, seed_lo, seed_hi,
            prior_l2, use_clamp, clamp_lo, clamp_hi, write_energy, layer, clip_grad,
            use_fixed, simplex, shrink, rise_tolerance, adapt_steps, target_accept, stop_flags, stop_grad,
            stop_change, stop_below, trace, save, trace_summary, replicas, exchange_every,
            fixed_at, dy, landscape, take_every_step, mark);
        assert_eq!(members, host);
    }

    #[test]
    fn chain_state_matches_wgsl() {
        let (size, members) = wgsl_layout("ChainState");
        assert_eq!(size as usize, size_of::<ChainState>());
        let host = offsets!(ChainState; energy, step_scale, steps_taken, accepted, change, non_finite_at,
            adapt_error, adapt_log_scale, warmup_accepted, heat, walker, swaps_proposed,
            swaps_accepted, energy_out, mark);
        assert_eq!(members, host);
    }
}
