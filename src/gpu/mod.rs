//! The GPU executor: what running compute kernels through wgpu takes, knowing nothing of
//! energies. The kernels and their sizes are `crate::kernels`; what runs when is
//! `crate::plan`; `crate::engine` drives both through this.
//!
//! - `wgsl`: the shader files and the `#import` preprocessor that assembles a kernel;
//! - `module`: what naga says of a kernel before a pipeline is made (validation, override
//!   constants, workgroup memory);
//! - `bindings`: a binding table, from which layouts and bind groups are built;
//! - `pipelines`: specialised pipelines, made once and cached;
//! - `pool`: device buffers kept between calls, by size class;
//! - `submit`: a compute pass of dispatches and the copies after it, recorded and submitted;
//! - `readback`: buffers written from the host and read back to it;
//! - `timer`: GPU timestamps around a pass.

pub(crate) mod bindings;
pub(crate) mod context;
pub(crate) mod module;
pub(crate) mod pace;
pub(crate) mod pipelines;
pub(crate) mod pool;
pub(crate) mod profiles;
pub(crate) mod readback;
pub(crate) mod submit;
pub(crate) mod timer;
pub(crate) mod wgsl;
