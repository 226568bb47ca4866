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

pub use crate::engine::pick_best;
pub use crate::error::{describe_setting_error, rename_settings, setting_name};
pub use config::{
    Exchange, Ladder, RefineConfig, Sampler, StopRule, VertexPenalty, DEFAULT_DISPATCH_MS,
};
pub use options::{
    dispatch_budget, RefineOptions, SamplerOptions, DEFAULT_HOTTEST, DEFAULT_SHRINK,
    DEFAULT_SWAP_EVERY, DEFAULT_TARGET_ACCEPT,
};
pub use outputs::{round_to_vertices, Decoded, Evaluation, ExchangeReport, Refinement};
pub use schedule::{parse_stages, Schedule, Shape, Stage};
pub use trace::TraceRow;
