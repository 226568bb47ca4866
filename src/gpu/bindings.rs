//! A binding table: the bindings of a bind group, in binding order, with the name and
//! access the shaders declare them with. Layouts and bind groups are built from it, and a
//! test holds every table to the shaders' declarations (tests/shader_translation.rs).

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

/// The bind group layout of `table`, visible to compute shaders.
pub(crate) fn layout(
    device: &wgpu::Device,
    label: &str,
    table: &[Binding],
) -> wgpu::BindGroupLayout {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = table
        .iter()
        .enumerate()
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

/// Storage buffers per shader stage `table` needs.
pub(crate) fn storage_count(table: &[Binding]) -> u32 {
    table
        .iter()
        .filter(|b| !matches!(b.access, Access::UniformDynamic | Access::Uniform))
        .count() as u32
}

/// A bind group of `layout` (made from `table`) over `resources`, one per binding in table
/// order.
pub(crate) fn bind_group(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::BindGroupLayout,
    table: &[Binding],
    resources: Vec<wgpu::BindingResource<'_>>,
) -> wgpu::BindGroup {
    assert_eq!(table.len(), resources.len(), "one resource per binding");
    let entries: Vec<wgpu::BindGroupEntry> = resources
        .into_iter()
        .enumerate()
        .map(|(i, resource)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource,
        })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout,
        entries: &entries,
    })
}
