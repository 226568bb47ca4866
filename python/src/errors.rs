//! The library's errors as Python exceptions, speaking the binding's keyword names where the
//! library names its settings as Rust spells them (`RefineConfig::step_size` is
//! `step_size=`): bad settings and inputs raise `ValueError`, everything the GPU or a file
//! did raises `ebm_wgpu.EbmError` (a `RuntimeError`).

use ebm::Error;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::{create_exception, PyErr};

create_exception!(
    ebm_wgpu,
    EbmError,
    PyRuntimeError,
    "A refinement, evaluation or training run that failed on the GPU or with a file: no adapter, a lost device, out of memory, non-finite chains, divergence."
);

/// Each setting the library names, and the keyword argument that sets it.
const KEYWORDS: &[(&str, &str)] = &[
    ("RefineConfig::steps", "steps"),
    ("RefineConfig::step_size", "step_size"),
    ("RefineConfig::temperature", "temperature"),
    ("RefineConfig::schedule", "schedule"),
    ("RefineConfig::seed", "seed"),
    ("RefineConfig::chain_offset", "chain_offset"),
    ("RefineConfig::prior_l2", "prior_l2"),
    ("RefineConfig::clamp", "clamp"),
    ("RefineConfig::clip_grad", "clip_grad"),
    ("RefineConfig::simplex", "simplex"),
    ("RefineConfig::trace", "trace"),
    ("RefineConfig::dispatch_ms", "dispatch_ms"),
    ("RefineConfig::keep_non_finite", "keep_non_finite"),
    ("RefineConfig::vertex_penalty", "vertex_penalty"),
    ("RefineConfig::decode", "decode"),
    ("RefineConfig::exchange", "replicas"),
    ("Exchange::replicas", "replicas"),
    ("Exchange::every", "swap_every"),
    ("Exchange::ladder", "ladder"),
    ("Ladder::Geometric", "ladder"),
    ("Ladder::Explicit", "ladder_factors"),
    ("StopRule::grad", "stop_grad"),
    ("StopRule::change", "stop_change"),
    ("StopRule::below", "stop_below"),
    ("Sampler::KeepIfLower::shrink", "shrink"),
    ("Sampler::KeepIfLower::rise_tolerance", "rise_tolerance"),
    ("Sampler::KeepIfLower", "keep_if_lower"),
    ("Sampler::Mala::adapt_steps", "adapt_steps"),
    ("Sampler::Mala::target_accept", "target_accept"),
    ("Sampler::Mala", "mala"),
    ("Schedule::shape", "schedule"),
    ("Schedule::step_size_end", "step_size_end"),
    ("Schedule::temperature_end", "temperature_end"),
    ("Schedule::stages", "stages"),
    ("RefineConfig::landscape", "landscape"),
    ("Engine::set_max_chunk", "chunk"),
    ("Engine::refine_best_of(r)", "best_of"),
    ("Engine::refine_best_of", "best_of"),
    ("PathChoice::AnyTile", "kernel='tile'"),
    ("PathChoice::Auto", "kernel='auto'"),
    ("PathChoice::Exactly", "kernel"),
    ("PathChoice", "kernel"),
    ("AdapterChoice::backends", "backend"),
    ("TrainConfig::objective", "objective"),
    ("TrainConfig::alpha", "alpha"),
    ("TrainConfig::optimizer", "optimizer"),
    ("TrainConfig::learning_rate", "learning_rate"),
    ("TrainConfig::weight_decay", "weight_decay"),
    ("TrainConfig::clip_grad_norm", "clip_grad_norm"),
    ("TrainConfig::batch", "batch"),
    ("TrainConfig::negatives", "negative_*"),
    ("TrainConfig::replay", "replay"),
    ("TrainConfig::reinit", "reinit"),
    ("TrainConfig::seed", "seed"),
    ("TrainConfig::log_every", "log_every"),
    ("TrainData::y", "y"),
    ("TrainData::x", "x"),
    ("Trainer::run", "steps"),
    ("Trainer::resume", "checkpoint"),
];

/// The keyword names of a training run's negatives, where a refinement has its own.
pub const NEGATIVES: &[(&str, &str)] = &[
    ("RefineConfig::steps", "negative_steps"),
    ("RefineConfig::step_size", "negative_step_size"),
    ("RefineConfig::temperature", "negative_temperature"),
];

/// Every setting's keyword, `renamed` first.
fn keywords_with(renamed: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    renamed.iter().chain(KEYWORDS).copied().collect()
}

/// The names of a call's inputs: the library's `y` is `y0` in a refinement.
#[derive(Clone, Copy, Default)]
pub struct Inputs {
    /// What the library's `y` is called in this call.
    pub y: Option<&'static str>,
}

/// The Python exception for `e`.
pub fn to_py(e: Error, inputs: Inputs, renamed: &[(&'static str, &'static str)]) -> PyErr {
    let keywords = keywords_with(renamed);
    match &e {
        Error::Config { field, message } => PyValueError::new_err(
            ebm::refine::describe_setting_error(field, message, &keywords),
        ),
        Error::Input { name, message } => {
            let name = match (name.as_str(), inputs.y) {
                ("y" | "y0", Some(y)) => y,
                ("TrainData::y", _) => "y",
                ("TrainData::x", _) => "x",
                (other, _) => other,
            };
            // The library's messages may repeat its own name for the input ("y holds ...").
            let message = ["y ", "x ", "fixed "]
                .iter()
                .find_map(|p| message.strip_prefix(p))
                .unwrap_or(message);
            PyValueError::new_err(format!(
                "{name}: {}",
                ebm::refine::rename_settings(message, &keywords)
            ))
        }
        Error::Model(_) | Error::ModelFile { .. } => {
            PyValueError::new_err(ebm::refine::rename_settings(&e.to_string(), &keywords))
        }
        _ => EbmError::new_err(ebm::refine::rename_settings(&e.to_string(), &keywords)),
    }
}

/// `to_py` for a call with no renamed inputs or settings.
pub fn plain(e: Error) -> PyErr {
    to_py(e, Inputs::default(), &[])
}
