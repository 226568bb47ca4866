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
    ("Sampler::KeepIfLower", "keep_if_lower"),
    ("Sampler::Mala::adapt_steps", "adapt_steps"),
    ("Sampler::Mala::target_accept", "target_accept"),
    ("Sampler::Mala", "mala"),
    ("Schedule::shape", "schedule"),
    ("Schedule::step_size_end", "step_size_end"),
    ("Schedule::temperature_end", "temperature_end"),
    ("Schedule::stages", "stages"),
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

/// The keyword that sets `field`, `renamed` first.
fn keyword_of(field: &str, renamed: &[(&str, &'static str)]) -> Option<&'static str> {
    renamed
        .iter()
        .chain(KEYWORDS)
        .find(|(f, _)| *f == field)
        .map(|(_, k)| *k)
}

/// `text` with every setting name replaced by its keyword, `renamed` first.
fn in_keywords(text: &str, renamed: &[(&str, &'static str)]) -> String {
    let names: Vec<(&str, &str)> = renamed.iter().chain(KEYWORDS).copied().collect();
    ebm::rename_settings(text, &names)
}

/// The names of a call's inputs: the library's `y` is `y0` in a refinement.
#[derive(Clone, Copy, Default)]
pub struct Inputs {
    /// What the library's `y` is called in this call.
    pub y: Option<&'static str>,
}

/// The Python exception for `e`.
pub fn to_py(e: Error, inputs: Inputs, renamed: &[(&str, &'static str)]) -> PyErr {
    match &e {
        Error::Config { field, message } if *field == "TrainConfig::negatives" => {
            // The negatives' own setting at fault, named in the message: `RefineConfig::x: ...`.
            let (field, message) = match message.split_once(": ") {
                Some((inner, rest)) if keyword_of(inner, renamed).is_some() => (inner, rest),
                _ => (*field, message.as_str()),
            };
            PyValueError::new_err(format!(
                "invalid option {}: {}",
                keyword_of(field, renamed).unwrap_or(field),
                in_keywords(message, renamed)
            ))
        }
        Error::Config { field, message } => PyValueError::new_err(format!(
            "invalid option {}: {}",
            keyword_of(field, renamed).unwrap_or(field),
            in_keywords(message, renamed)
        )),
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
            PyValueError::new_err(format!("{name}: {}", in_keywords(message, renamed)))
        }
        Error::Model(_) | Error::ModelFile { .. } => {
            PyValueError::new_err(in_keywords(&e.to_string(), renamed))
        }
        _ => EbmError::new_err(in_keywords(&e.to_string(), renamed)),
    }
}

/// `to_py` for a call with no renamed inputs or settings.
pub fn plain(e: Error) -> PyErr {
    to_py(e, Inputs::default(), &[])
}
