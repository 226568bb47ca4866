//! What naga says of a kernel before a pipeline is made: the module parses and validates,
//! its override constants resolve as a pipeline would resolve them, and its workgroup
//! memory fits the device (wgpu does not check that).

use crate::error::{Error, Resource, Result};

/// A specialised module: the module with its overrides resolved (what a pipeline is made
/// from, with no constants left to give), and the (group, binding) pairs its entry point
/// uses.
pub(crate) struct Specialised {
    pub module: naga::Module,
    pub bindings: Vec<(u32, u32)>,
}

/// Parses and validates `source`, then resolves the override constants of entry point
/// `entry` as a pipeline would, from those of `constants` the module declares (a pipeline
/// refuses any other), and returns the module with the bindings the entry point uses.
/// Errors name `stage`.
pub(crate) fn specialise(
    stage: &'static str,
    source: &str,
    entry: &str,
    constants: &[(&str, f64)],
) -> Result<Specialised> {
    let fail = |message: String| Error::Gpu { stage, message };
    let module =
        naga::front::wgsl::parse_str(source).map_err(|e| fail(e.emit_to_string(source)))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| fail(format!("{e:?}")))?;
    let declared: Vec<(&str, f64)> = constants
        .iter()
        .filter(|(name, _)| {
            module
                .overrides
                .iter()
                .any(|(_, o)| o.name.as_deref() == Some(*name))
        })
        .copied()
        .collect();
    let mut map = naga::back::PipelineConstants::default();
    for (name, value) in &declared {
        map.insert(name.to_string(), *value);
    }
    let index = module
        .entry_points
        .iter()
        .position(|e| e.name == entry)
        .ok_or_else(|| fail(format!("the module has no entry point {entry:?}")))?;
    let uses = info.get_entry_point(index);
    let bindings = module
        .global_variables
        .iter()
        .filter(|(handle, _)| !uses[*handle].is_empty())
        .filter_map(|(_, v)| v.binding.as_ref().map(|b| (b.group, b.binding)))
        .collect();
    let entry = Some((naga::ShaderStage::Compute, entry));
    let (module, _) =
        naga::back::pipeline_constants::process_overrides(&module, &info, entry, &map)
            .map_err(|e| fail(format!("{e:?}")))?;
    Ok(Specialised {
        module: module.into_owned(),
        bindings,
    })
}

/// Bytes of workgroup memory a specialised module declares.
pub fn workgroup_memory_bytes(module: &naga::Module) -> u64 {
    let mut layouter = naga::proc::Layouter::default();
    layouter
        .update(module.to_ctx())
        .expect("layout of a validated module");
    module
        .global_variables
        .iter()
        .filter(|(_, v)| v.space == naga::AddressSpace::WorkGroup)
        .map(|(_, v)| u64::from(layouter[v.ty].size))
        .sum()
}

/// Checks a specialised module's workgroup memory against the device's limit.
pub fn check_workgroup_memory(
    kernel: &'static str,
    module: &naga::Module,
    limits: &wgpu::Limits,
) -> Result<()> {
    let needed = workgroup_memory_bytes(module);
    let limit = u64::from(limits.max_compute_workgroup_storage_size);
    if needed > limit {
        return Err(Error::limit(
            format!("kernel {kernel}"),
            Resource::WorkgroupMemory,
            needed,
            limit,
        ));
    }
    Ok(())
}
