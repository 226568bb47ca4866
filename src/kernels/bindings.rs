//! The binding tables of the kernels of a refinement, evaluation or weight gradient
//! (shaders/bindings.wgsl), by owner: group 0 the chains' (the sampler's), group 1 the
//! energy's. Written once here; layouts and bind groups are built from them, and a test
//! holds them to the WGSL.

use crate::gpu::bindings::{Access, Binding};

/// Group 0, in binding order: a call's chains.
pub const BINDINGS: [Binding; 7] = [
    Binding::new("params", Access::UniformDynamic),
    Binding::new("xs", Access::Read),
    Binding::new("ys", Access::ReadWrite),
    Binding::new("controls", Access::Read),
    Binding::new("chain_state", Access::ReadWrite),
    Binding::new("trace", Access::ReadWrite),
    Binding::new("scratch", Access::ReadWrite),
];

/// Group 1, in binding order: the energy (an engine's, the same for every call).
pub const ENERGY_BINDINGS: [Binding; 2] = [
    Binding::new("weights", Access::Read),
    Binding::new("program", Access::Read),
];
