//! The crate's one error type: every failure a user can cause names the file, tensor or
//! setting at fault, in the library's own terms (the command line maps settings to flags).

use std::path::PathBuf;

/// Everything that can go wrong in `ebm`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No GPU adapter matched the request (or none exists at all).
    #[error("no GPU adapter found{0}: install a Vulkan, Metal or DX12 driver (on Linux without a GPU: `apt-get install mesa-vulkan-drivers`), or check WGPU_BACKEND / WGPU_ADAPTER_NAME")]
    NoAdapter(String),
    /// The adapter refused to open a device.
    #[error("could not open the GPU device on adapter {adapter}: {source}")]
    RequestDevice {
        /// Adapter name.
        adapter: String,
        /// What wgpu said.
        source: wgpu::RequestDeviceError,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A model file is malformed or inconsistent.
    #[error("model {}: {message}", path.display())]
    ModelFile {
        /// The model file.
        path: PathBuf,
        /// What is wrong, naming the tensor or metadata key.
        message: String,
    },
    /// A model (from a file or built in code) is inconsistent.
    #[error("invalid model: {0}")]
    Model(String),
    /// An input array (.npy or slice) does not fit the model or holds bad values.
    #[error("{name}: {message}")]
    Input {
        /// The file or argument name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A setting of a refinement or of the engine is out of range.
    #[error("invalid {field}: {message}")]
    Config {
        /// The setting, as Rust spells it (`RefineConfig::step_size`); the command line
        /// names its flag instead.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The GPU reported an error while running a kernel.
    #[error("GPU error in {stage}: {message}")]
    Gpu {
        /// Which step failed.
        stage: &'static str,
        /// What wgpu said.
        message: String,
    },
    /// The GPU device was lost (driver reset, watchdog, `Device::destroy`); its results
    /// are gone, and a new [`crate::Context`] is needed.
    #[error("the GPU device {adapter} was lost ({reason}); nothing it was computing can be recovered: create a new context and engine to go on")]
    DeviceLost {
        /// Adapter name.
        adapter: String,
        /// What wgpu said.
        reason: String,
    },
    /// Memory for a batch could not be allocated.
    #[error("out of {memory} memory: a batch of {batch} chains needs {bytes} bytes for a chunk of {chunk} chains; pass a smaller batch, or a smaller chunk (Engine::set_max_chunk)")]
    OutOfMemory {
        /// `device` or `host`.
        memory: &'static str,
        /// Chains in the batch.
        batch: usize,
        /// Chains one submission held.
        chunk: usize,
        /// The bytes that could not be allocated.
        bytes: u64,
    },
    /// Chains whose y or energy became NaN or infinite (a step size or temperature too
    /// large for the model, usually); see `RefineConfig::keep_non_finite`.
    #[error("{count} of {total} chains became non-finite (NaN or infinite): {first}; lower the step size (or clip with RefineConfig::clip_grad), or keep them with RefineConfig::keep_non_finite")]
    NonFinite {
        /// How many chains.
        count: usize,
        /// Chains in the batch.
        total: usize,
        /// The first few, with the step each went non-finite at.
        first: String,
    },
    /// Training met a loss, gradient or weight (or an update that would make one) that is
    /// not finite. No update ran from that step on: the weights are those before it (the
    /// last checkpoint is the last one saved).
    #[error("training diverged at step {step}: not finite (NaN or infinite): {quantity}; no update ran from that step on. Lower the learning rate, clip the gradient (TrainConfig::clip_grad_norm), raise contrastive divergence's regulariser (TrainConfig::alpha) or lower the negatives' step size")]
    Diverged {
        /// The first training step whose loss, gradient or weights were not finite.
        step: u64,
        /// What was not finite: `loss`, `weight gradient`, `weights` (joined with ", ").
        quantity: String,
    },
    /// A buffer the driver made without error but did not keep (a word written to it read
    /// back as something else): an allocation it refused silently, most likely.
    #[error("the {backend:?} driver lost the {buffer} buffer without reporting an error: out of device memory, most likely (a batch of {batch} chains needs {bytes} bytes for a chunk of {chunk} chains); pass a smaller batch, or a smaller chunk (Engine::set_max_chunk)")]
    BufferLost {
        /// The backend.
        backend: wgpu::Backend,
        /// The buffer's label.
        buffer: &'static str,
        /// Chains in the call.
        batch: usize,
        /// Chains per chunk.
        chunk: usize,
        /// Bytes the chunk's buffers need together.
        bytes: u64,
    },
    /// Results read back without the completion mark every kernel writes: the driver
    /// dropped a buffer or a dispatch and said nothing.
    #[error("the {backend:?} driver returned results no kernel wrote: {missing} of {total} {what} lack their completion mark (the first is {first}). The driver most likely failed to allocate a buffer or to run a kernel without reporting it (out of memory?); no result was kept. Try a smaller batch (Engine::set_max_chunk), or another backend (WGPU_BACKEND)")]
    Incomplete {
        /// The backend the results came through.
        backend: wgpu::Backend,
        /// What was read back: `chains`, `training steps`.
        what: &'static str,
        /// How many of them lack the mark.
        missing: usize,
        /// How many were read back.
        total: usize,
        /// The first that lacks it (a chain's index in the call, a training step).
        first: u64,
    },
    /// A kernel or a buffer needs more of a device resource than the adapter has.
    #[error("{what} needs {needed} {resource}, the adapter allows {limit}")]
    Limit {
        /// What needs it, as the subject of a sentence: a kernel (`kernel chain`, by its
        /// entry point) or a buffer (`the weight buffer`, `training's replay buffer`).
        what: String,
        /// The resource; its `Display` carries the unit (`bytes of workgroup memory`,
        /// `storage buffers per shader stage`), so the message reads right for each.
        resource: Resource,
        /// What it needs, in the resource's unit.
        needed: u64,
        /// What the adapter has, in the resource's unit.
        limit: u64,
    },
}

/// A device resource of [`Error::Limit`], one per adapter limit the engine checks. Its
/// `Display` is the amount's unit and name, as the error message reads it after a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Bytes of workgroup memory one kernel declares
    /// (`wgpu::Limits::max_compute_workgroup_storage_size`).
    WorkgroupMemory,
    /// Storage buffers one kernel binds, every bind group counted
    /// (`wgpu::Limits::max_storage_buffers_per_shader_stage`).
    StorageBuffers,
    /// Invocations in one workgroup (`wgpu::Limits::max_compute_invocations_per_workgroup`).
    Invocations,
    /// Bytes of one storage buffer binding (`wgpu::Limits::max_storage_buffer_binding_size`,
    /// and `max_buffer_size`).
    BindingBytes,
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Resource::WorkgroupMemory => "bytes of workgroup memory",
            Resource::StorageBuffers => "storage buffers per shader stage",
            Resource::Invocations => "invocations per workgroup",
            Resource::BindingBytes => "bytes in one storage buffer binding",
        })
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Limit`]: `what` (a kernel or a buffer) needs `needed` of `resource`,
    /// the adapter allows `limit`.
    pub(crate) fn limit(
        what: impl Into<String>,
        resource: Resource,
        needed: u64,
        limit: u64,
    ) -> Self {
        Error::Limit {
            what: what.into(),
            resource,
            needed,
            limit,
        }
    }

    /// An [`Error::Input`] for the named file or argument.
    pub fn input(name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Input {
            name: name.into(),
            message: message.into(),
        }
    }

    /// An [`Error::Config`] for the named setting.
    pub fn config(field: &'static str, message: impl Into<String>) -> Self {
        Error::Config {
            field,
            message: message.into(),
        }
    }
}

/// `text` with each setting name of `names` (as the library spells it in errors, e.g.
/// `RefineConfig::step_size`) replaced by what a front end calls it (a flag, a keyword
/// argument). The first entry for a name wins; longer names go first (so
/// `Sampler::Mala::target_accept` is not read as `Sampler::Mala`), and a name counts only
/// where no identifier character follows it.
pub fn rename_settings(text: &str, names: &[(&str, &str)]) -> String {
    let mut order: Vec<&(&str, &str)> = Vec::with_capacity(names.len());
    for entry in names {
        if !order.iter().any(|(n, _)| *n == entry.0) {
            order.push(entry);
        }
    }
    order.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let mut out = text.to_string();
    for (name, renamed) in order {
        let mut next = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(at) = rest.find(name) {
            let after = &rest[at + name.len()..];
            let whole = !after
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            next += &rest[..at];
            next += if whole { renamed } else { name };
            rest = after;
        }
        out = next + rest;
    }
    out
}

/// What a front end calls the setting `field` (as the library spells it in errors), by the
/// first entry of `names` for it; None where it has no name there.
pub fn setting_name<'a>(field: &str, names: &[(&str, &'a str)]) -> Option<&'a str> {
    names.iter().find(|(f, _)| *f == field).map(|(_, n)| *n)
}

/// An [`Error::Config`]'s `field` and `message` in a front end's words: "invalid option
/// NAME: MESSAGE", every setting named as `names` names it ([`rename_settings`]). A
/// training run's negatives (`TrainConfig::negatives`) name their own setting at fault at
/// the message's start (`RefineConfig::x: ...`): that setting is the one named.
pub fn describe_setting_error(field: &str, message: &str, names: &[(&str, &str)]) -> String {
    let (field, message) = match message.split_once(": ") {
        Some((inner, rest))
            if field == "TrainConfig::negatives" && setting_name(inner, names).is_some() =>
        {
            (inner, rest)
        }
        _ => (field, message),
    };
    format!(
        "invalid option {}: {}",
        setting_name(field, names).unwrap_or(field),
        rename_settings(message, names)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[(&str, &str)] = &[
        ("RefineConfig::step_size", "--negative-step-size"),
        ("RefineConfig::step_size", "--step-size"),
        ("Sampler::Mala", "--mala"),
        ("Sampler::Mala::target_accept", "--target-accept"),
        ("TrainConfig::negatives", "--negative-*"),
    ];

    #[test]
    fn a_setting_is_named_by_its_first_entry() {
        assert_eq!(
            setting_name("RefineConfig::step_size", NAMES),
            Some("--negative-step-size")
        );
        assert_eq!(setting_name("RefineConfig::seed", NAMES), None);
    }

    #[test]
    fn setting_errors_speak_the_front_ends_names() {
        assert_eq!(
            describe_setting_error(
                "Sampler::Mala",
                "Sampler::Mala::target_accept must be in (0, 1)",
                NAMES
            ),
            "invalid option --mala: --target-accept must be in (0, 1)"
        );
        assert_eq!(
            describe_setting_error("RefineConfig::seed", "would be ignored", NAMES),
            "invalid option RefineConfig::seed: would be ignored"
        );
    }

    #[test]
    fn the_negatives_name_their_own_setting_at_fault() {
        assert_eq!(
            describe_setting_error(
                "TrainConfig::negatives",
                "RefineConfig::step_size: must be a positive number, got -1",
                NAMES
            ),
            "invalid option --negative-step-size: must be a positive number, got -1"
        );
        assert_eq!(
            describe_setting_error(
                "TrainConfig::negatives",
                "unknown: needs Sampler::Mala",
                NAMES
            ),
            "invalid option --negative-*: unknown: needs --mala"
        );
    }
}
