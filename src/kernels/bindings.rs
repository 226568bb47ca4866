//! The binding table of every kernel of a refinement, evaluation or weight gradient
//! (shaders/bindings.wgsl): written
//! once here; layouts and bind groups are built from it, and a test holds it to the WGSL.

use crate::gpu::bindings::{Access, Binding};

/// In binding order.
pub const BINDINGS: [Binding; 12] = [
    Binding::new("params", Access::UniformDynamic),
    Binding::new("weights", Access::Read),
    Binding::new("xs", Access::Read),
    Binding::new("ys", Access::ReadWrite),
    Binding::new("energies", Access::ReadWrite),
    Binding::new("grads", Access::ReadWrite),
    Binding::new("scratch", Access::ReadWrite),
    Binding::new("schedule", Access::Read),
    Binding::new("fixed", Access::Read),
    Binding::new("chain_state", Access::ReadWrite),
    Binding::new("trace", Access::ReadWrite),
    Binding::new("program", Access::Read),
];

/// The index of the binding named `name`, evaluated at compile time: a name that is not in
/// the table fails the build.
const fn index(name: &str) -> usize {
    let mut i = 0;
    while i < BINDINGS.len() {
        if same(BINDINGS[i].name.as_bytes(), name.as_bytes()) {
            return i;
        }
        i += 1;
    }
    panic!("not a binding of the table")
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The index of each binding, by its WGSL name.
pub(crate) mod at {
    use super::index;
    pub const PARAMS: usize = index("params");
    pub const WEIGHTS: usize = index("weights");
    pub const XS: usize = index("xs");
    pub const YS: usize = index("ys");
    pub const ENERGIES: usize = index("energies");
    pub const GRADS: usize = index("grads");
    pub const SCRATCH: usize = index("scratch");
    pub const SCHEDULE: usize = index("schedule");
    pub const FIXED: usize = index("fixed");
    pub const CHAIN_STATE: usize = index("chain_state");
    pub const TRACE: usize = index("trace");
    pub const PROGRAM: usize = index("program");
}
