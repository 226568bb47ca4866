//! WGSL sources of the kernels, assembled from the files in `shaders/` (WGSL has no
//! `#include`: each kernel is a shared prelude followed by its own file), and what naga
//! tells the host about them before a pipeline is made.

use crate::error::{Error, Result};

/// Structs, bindings and the workgroup-size override shared by every kernel.
pub const BINDINGS: &str = include_str!("../shaders/bindings.wgsl");
const ACTIVATION: &str = include_str!("../shaders/activation.wgsl");
const PHILOX: &str = include_str!("../shaders/philox.wgsl");
const MLP: &str = include_str!("../shaders/mlp.wgsl");
const STEP: &str = include_str!("../shaders/step.wgsl");
const EVAL: &str = include_str!("../shaders/eval.wgsl");
const CHAIN: &str = include_str!("../shaders/chain.wgsl");
const TILE: &str = include_str!("../shaders/tile.wgsl");
const LANE_SUM: &str = include_str!("../shaders/lane_sum.wgsl");
const LANE_SUM_SUBGROUP: &str = include_str!("../shaders/lane_sum_subgroup.wgsl");
const LAYERED: &str = include_str!("../shaders/layered.wgsl");
const TRACE: &str = include_str!("../shaders/trace.wgsl");
const PEAK: &str = include_str!("../shaders/peak.wgsl");

/// Every file in `shaders/`, by name.
pub const SHADER_FILES: [(&str, &str); 13] = [
    ("bindings.wgsl", BINDINGS),
    ("activation.wgsl", ACTIVATION),
    ("philox.wgsl", PHILOX),
    ("mlp.wgsl", MLP),
    ("step.wgsl", STEP),
    ("eval.wgsl", EVAL),
    ("chain.wgsl", CHAIN),
    ("tile.wgsl", TILE),
    ("lane_sum.wgsl", LANE_SUM),
    ("lane_sum_subgroup.wgsl", LANE_SUM_SUBGROUP),
    ("layered.wgsl", LAYERED),
    ("trace.wgsl", TRACE),
    ("peak.wgsl", PEAK),
];

/// One compute kernel: its WGSL source and entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Energy and dE/dy of a batch, one chain per invocation.
    Eval,
    /// All K steps of refinement for one chain per invocation.
    Chain,
    /// All K steps of refinement for a tile of chains per workgroup.
    Tile,
    /// The same, with subgroup operations for the sums over lanes.
    TileSubgroup,
    /// Layered path: W_x x + b of layer 0, once per refinement.
    LayeredXpart,
    /// Layered path: one layer of the forward pass.
    LayeredForward,
    /// Layered path: the energy and dE/df of the last layer.
    LayeredOutput,
    /// Layered path: one layer of the backward pass.
    LayeredBackward,
    /// Layered path: the stop tests and the update of y (the proposal, for an accept rule).
    LayeredUpdate,
    /// Layered path, accept rules: the energy of y0 into the chain state.
    LayeredStart,
    /// Layered path, accept rules: keeps or refuses each proposal.
    LayeredSettle,
    /// The per-step summary of a trace (min, mean, max energy, mean gradient norm).
    TraceReduce,
}

impl Kernel {
    /// Every kernel the crate ships.
    pub const ALL: [Kernel; 12] = [
        Kernel::Eval,
        Kernel::Chain,
        Kernel::Tile,
        Kernel::TileSubgroup,
        Kernel::LayeredXpart,
        Kernel::LayeredForward,
        Kernel::LayeredOutput,
        Kernel::LayeredBackward,
        Kernel::LayeredUpdate,
        Kernel::LayeredStart,
        Kernel::LayeredSettle,
        Kernel::TraceReduce,
    ];

    /// The entry point's name.
    pub fn entry_point(self) -> &'static str {
        match self {
            Kernel::Eval => "eval",
            Kernel::Chain => "chain",
            Kernel::Tile | Kernel::TileSubgroup => "tile",
            Kernel::LayeredXpart => "layered_xpart",
            Kernel::LayeredForward => "layered_forward",
            Kernel::LayeredOutput => "layered_output",
            Kernel::LayeredBackward => "layered_backward",
            Kernel::LayeredUpdate => "layered_update",
            Kernel::LayeredStart => "layered_start",
            Kernel::LayeredSettle => "layered_settle",
            Kernel::TraceReduce => "trace_reduce",
        }
    }

    /// Whether the module uses subgroup operations (the device needs `Features::SUBGROUP`).
    pub fn uses_subgroups(self) -> bool {
        self == Kernel::TileSubgroup
    }

    /// The complete WGSL module, with the tile kernel's sizes at their defaults.
    pub fn source(self) -> String {
        self.source_for(&[])
    }

    /// The complete WGSL module for `constants`. The tile kernel's array sizes (`CHAINS`,
    /// `WIDTH`, `K_TILE`, and `LANE_SLOTS` = `WORKGROUP_SIZE`) are written into the source
    /// as constants: naga 30 sizes override-sized workgroup arrays from the overrides'
    /// defaults, whatever the pipeline sets.
    pub fn source_for(self, constants: &[(&str, f64)]) -> String {
        let mut prelude = crate::constants::wgsl_prelude();
        if matches!(self, Kernel::Tile | Kernel::TileSubgroup) {
            let get = |name: &str, default: u32| {
                constants
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(default, |(_, v)| *v as u32)
            };
            for (name, value) in [
                ("CHAINS", get("CHAINS", 16)),
                ("WIDTH", get("WIDTH", 256)),
                ("K_TILE", get("K_TILE", 8)),
                ("LANE_SLOTS", get("WORKGROUP_SIZE", 256)),
            ] {
                prelude += &format!("const {name}: u32 = {value}u;\n");
            }
        }
        prelude + &self.modules().join("\n")
    }

    fn modules(self) -> &'static [&'static str] {
        match self {
            Kernel::Eval => &[BINDINGS, ACTIVATION, MLP, EVAL],
            Kernel::Chain => &[BINDINGS, ACTIVATION, PHILOX, MLP, STEP, CHAIN],
            Kernel::Tile => &[BINDINGS, ACTIVATION, PHILOX, LANE_SUM, TILE],
            Kernel::TileSubgroup => &[BINDINGS, ACTIVATION, PHILOX, LANE_SUM_SUBGROUP, TILE],
            Kernel::TraceReduce => &[BINDINGS, TRACE],
            _ => &[BINDINGS, ACTIVATION, PHILOX, MLP, STEP, LAYERED],
        }
    }

    /// The override constants every module declares.
    pub fn overrides(self) -> &'static [&'static str] {
        match self {
            Kernel::TraceReduce => &["WORKGROUP_SIZE", "RULE"],
            _ => &["ACTIVATION", "OUTPUT", "WORKGROUP_SIZE", "RULE"],
        }
    }

    /// The constants of `all` this kernel declares (a pipeline refuses any other).
    pub fn constants<'a>(self, all: &[(&'a str, f64)]) -> Vec<(&'a str, f64)> {
        all.iter()
            .filter(|(name, _)| self.overrides().contains(name))
            .copied()
            .collect()
    }
}

/// Parses and validates a kernel, then resolves its override constants as a pipeline would.
pub fn specialise(
    kernel: Kernel,
    constants: &[(&str, f64)],
) -> Result<(naga::Module, naga::valid::ModuleInfo)> {
    let fail = |message: String| Error::Gpu {
        stage: kernel.entry_point(),
        message,
    };
    let source = kernel.source_for(constants);
    let module =
        naga::front::wgsl::parse_str(&source).map_err(|e| fail(e.emit_to_string(&source)))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| fail(format!("{e:?}")))?;
    let mut map = naga::back::PipelineConstants::default();
    for (name, value) in kernel.constants(constants) {
        map.insert(name.to_string(), value);
    }
    let entry = Some((naga::ShaderStage::Compute, kernel.entry_point()));
    let (module, info) =
        naga::back::pipeline_constants::process_overrides(&module, &info, entry, &map)
            .map_err(|e| fail(format!("{e:?}")))?;
    Ok((module.into_owned(), info.into_owned()))
}

/// Bytes of workgroup memory a specialised module declares.
pub fn workgroup_memory_bytes(module: &naga::Module) -> u64 {
    let layouter = {
        let mut l = naga::proc::Layouter::default();
        l.update(module.to_ctx())
            .expect("layout of a validated module");
        l
    };
    module
        .global_variables
        .iter()
        .filter(|(_, v)| v.space == naga::AddressSpace::WorkGroup)
        .map(|(_, v)| u64::from(layouter[v.ty].size))
        .sum()
}

/// Checks a kernel's workgroup memory against the device's limit (wgpu does not).
pub fn check_workgroup_memory(
    kernel: Kernel,
    constants: &[(&str, f64)],
    limits: &wgpu::Limits,
) -> Result<()> {
    let (module, _) = specialise(kernel, constants)?;
    check_module_workgroup_memory(kernel.entry_point(), &module, limits)
}

/// Checks a specialised module's workgroup memory against the device's limit.
pub fn check_module_workgroup_memory(
    kernel: &'static str,
    module: &naga::Module,
    limits: &wgpu::Limits,
) -> Result<()> {
    let needed = workgroup_memory_bytes(module);
    let limit = u64::from(limits.max_compute_workgroup_storage_size);
    if needed > limit {
        return Err(Error::Limit {
            kernel,
            resource: "workgroup memory",
            needed,
            limit,
        });
    }
    Ok(())
}
