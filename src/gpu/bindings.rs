//! A binding table: the bindings of a bind group, in binding order, with the name and
//! access the shaders declare them with. A test holds every table to the shaders'
//! declarations (tests/shader_translation.rs).
//!
//! Each kernel's layouts bind only what its entry point uses ([`Used`], read off naga's
//! analysis of its module when its pipeline is made): wgpu counts every binding of a layout
//! against the adapter's limits, used or not, so a kernel that reads 4 of a group's 7
//! buffers must not ask for 7 (WebGPU's default is 8 storage buffers per shader stage, all
//! groups together).

/// How the kernels see a binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A uniform block bound at a dynamic offset (one block per dispatch).
    UniformDynamic,
    /// A uniform block bound whole.
    Uniform,
    /// `var<storage, read>`.
    Read,
    /// `var<storage, read_write>`.
    ReadWrite,
}

/// One binding: its index is its place in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The variable's name in WGSL.
    pub name: &'static str,
    /// How the kernels see it.
    pub access: Access,
}

impl Binding {
    /// A binding of the name `name`, seen with `access` (for the tables, as a const).
    pub const fn new(name: &'static str, access: Access) -> Binding {
        Binding { name, access }
    }
}

/// The bindings of a table an entry point uses: bit i for binding i.
pub(crate) type Used = u64;

/// The bind group layout of the bindings of `table` that `used` names (each at its
/// index), visible to compute shaders.
pub(crate) fn layout(
    device: &wgpu::Device,
    label: &str,
    table: &[Binding],
    used: Used,
) -> wgpu::BindGroupLayout {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = table
        .iter()
        .enumerate()
        .filter(|(i, _)| used & (1 << i) != 0)
        .map(|(i, b)| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match b.access {
                    Access::UniformDynamic | Access::Uniform => wgpu::BufferBindingType::Uniform,
                    Access::Read => wgpu::BufferBindingType::Storage { read_only: true },
                    Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                },
                has_dynamic_offset: b.access == Access::UniformDynamic,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(label),
        entries: &entries,
    })
}

/// Storage buffers of `table` that `used` names.
pub(crate) fn storage_count(table: &[Binding], used: Used) -> u32 {
    table
        .iter()
        .enumerate()
        .filter(|(i, b)| {
            used & (1 << i) != 0 && !matches!(b.access, Access::UniformDynamic | Access::Uniform)
        })
        .count() as u32
}

/// Whether `used` names a binding with a dynamic offset (a uniform block per dispatch).
pub(crate) fn has_dynamic(table: &[Binding], used: Used) -> bool {
    table
        .iter()
        .enumerate()
        .any(|(i, b)| used & (1 << i) != 0 && b.access == Access::UniformDynamic)
}

/// A bind group of `layout` (made from `table` and `used`) over the resource
/// `resource` gives each binding `used` names.
pub(crate) fn bind_group<'a>(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::BindGroupLayout,
    table: &[Binding],
    used: Used,
    resource: impl Fn(&Binding) -> wgpu::BindingResource<'a>,
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = table
        .iter()
        .enumerate()
        .filter(|(i, _)| used & (1 << i) != 0)
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: resource(b),
        })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout,
        entries: &entries,
    })
}
