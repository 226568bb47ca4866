//! A refinement: its settings (`config`: the sampler, step table, stop rules, replica
//! exchange, the vertex penalty), the front ends' shared options (`options`), step-size and
//! temperature schedules (`schedule`), what it returns (`outputs`), its per-step trace
//! (`trace`), and the counter-based noise the kernels and the reference both draw (`rng`).

pub(crate) mod config;
pub(crate) mod options;
pub(crate) mod outputs;
pub mod rng;
pub(crate) mod schedule;
pub(crate) mod trace;
