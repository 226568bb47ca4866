//! Every shader file validates with just what it imports (so its `#import` lines name all
//! it needs); every kernel, assembled for energies that use every op, head, activation and
//! output (the sample energy `samples::all_ops()`, MLPs) and specialised for every accept
//! rule, and the FMA peak probe pass naga validation and translate to SPIR-V (Vulkan), MSL
//! (Metal), HLSL (DX12) and GLSL, so no backend breaks blind; the binding table the host
//! builds layouts from is the one the shaders declare; and each kernel's workgroup memory
//! fits the adapter's limit.

mod common;

use ebm::testing::{
    check_workgroup_memory, prelude_and, samples, specialise, tile, workgroup_memory_bytes, Access,
    Kernel, BINDINGS, OPTIMIZER_BINDINGS, RULE_KEEP_IF_LOWER, RULE_LANGEVIN, RULE_MALA,
    SHADER_FILES, TRAIN_BINDINGS,
};
use ebm::{Activation, GraphBuilder, Head, Model, Output};
use naga::back::{glsl, hlsl, msl, spv};

fn validate(module: &naga::Module) -> naga::valid::ModuleInfo {
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(module)
    .unwrap()
}

/// Tiles of this many chains per workgroup (the tile kernel's sizes are written into its
/// source); the other kernels ignore it.
const CHAINS: u32 = 16;

fn translate(kernel: Kernel, model: &Model, name: &str, constants: &[(&str, f64)]) {
    let module = specialise(kernel, model, CHAINS, &wgpu::Limits::default(), constants)
        .unwrap_or_else(|e| panic!("{} for {name}: {e}", kernel.entry_point()));
    let info = validate(&module);
    let what = format!("{} for {name} {constants:?}", kernel.entry_point());
    translate_module(&module, &info, kernel.entry_point(), &what);
}

/// The energies every kernel is assembled for: the sample energy with every op and head
/// the graph offers, a graph with every activation, and an MLP per output function.
fn energies() -> Vec<(String, Model)> {
    let mut out = vec![("every op".to_string(), samples::all_ops())];
    let mut g = GraphBuilder::new(2, 3, 4);
    let mut h = g.linear(&[g.x(), g.y()], 6, true);
    for act in Activation::ALL {
        h = g.activation(h, act);
    }
    let o = g.linear(&[h], 1, true);
    g.energy(Head::Sum, o, 1.0);
    out.push((
        "every activation".to_string(),
        g.build().expect("a valid graph"),
    ));
    for output in Output::ALL {
        out.push((
            format!("an MLP with {} output", output.name()),
            common::model(3, 4, &[8, 8], Activation::Gelu, output, 5),
        ));
    }
    out
}

/// A file that uses a name it does not import (nor declare) fails here, naming the file.
#[test]
fn every_shader_file_validates_with_its_imports_alone() {
    for (file, _) in SHADER_FILES {
        let source = prelude_and(file).unwrap();
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("shaders/{file}: {}", e.emit_to_string(&source)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("shaders/{file}: {e:?}"));
    }
}

/// The bindings of a module: ((group, binding), name, access).
fn declared_bindings(module: &naga::Module) -> Vec<((u32, u32), String, Access)> {
    let mut out: Vec<_> = module
        .global_variables
        .iter()
        .filter_map(|(_, v)| {
            let b = v.binding.as_ref()?;
            let access = match v.space {
                naga::AddressSpace::Uniform => Access::UniformDynamic,
                naga::AddressSpace::Storage { access } => {
                    if access.contains(naga::StorageAccess::STORE) {
                        Access::ReadWrite
                    } else {
                        Access::Read
                    }
                }
                ref other => panic!("{:?} in {other:?}", v.name),
            };
            Some(((b.group, b.binding), v.name.clone().unwrap(), access))
        })
        .collect();
    out.sort_by_key(|b| b.0);
    out
}

/// The tables the host builds layouts and bind groups from are what the shaders declare,
/// binding for binding: the chains' (group 0) and the energy's (group 1) are
/// bindings.wgsl, the training table (group 2) train_bindings.wgsl, the optimiser's (its
/// group 0) optimizer.wgsl; every kernel binds only through the tables of its pipeline
/// layout (`Kernel::binding_tables`).
#[test]
fn the_binding_tables_are_what_the_shaders_declare() {
    let entries = |group: usize, table: &[ebm::testing::Binding]| -> Vec<_> {
        table
            .iter()
            .enumerate()
            .map(|(i, b)| {
                (
                    (group as u32, i as u32),
                    b.name.to_string(),
                    uniform_as_one(b.access),
                )
            })
            .collect::<Vec<_>>()
    };
    // The energy's table, as the kernels of a refinement lay it out (group 1).
    let [chains, energy] = Kernel::Eval.binding_tables() else {
        panic!("the eval kernel binds the chains' and the energy's tables")
    };
    assert_eq!(*chains, &BINDINGS[..]);
    assert_eq!(
        Kernel::Backprop.binding_tables(),
        [chains, energy, &TRAIN_BINDINGS[..]]
    );
    for (file, group, table) in [
        ("bindings.wgsl", 0, &BINDINGS[..]),
        ("bindings.wgsl", 1, energy),
        ("train_bindings.wgsl", 2, &TRAIN_BINDINGS[..]),
        ("optimizer.wgsl", 0, &OPTIMIZER_BINDINGS[..]),
    ] {
        let source = prelude_and(file).unwrap();
        let module = naga::front::wgsl::parse_str(&source).unwrap();
        let declared: Vec<_> = declared_bindings(&module)
            .into_iter()
            .filter(|b| b.0 .0 == group as u32)
            .collect();
        assert_eq!(declared, entries(group, table), "{file}");
    }
    for kernel in Kernel::ALL {
        let table: Vec<_> = kernel
            .binding_tables()
            .iter()
            .enumerate()
            .flat_map(|(group, t)| entries(group, t))
            .collect();
        let source = kernel.source().unwrap();
        let module = naga::front::wgsl::parse_str(&source).unwrap();
        for binding in declared_bindings(&module) {
            assert!(table.contains(&binding), "{kernel:?} declares {binding:?}");
        }
    }
}

/// WGSL does not say whether a uniform block is bound at a dynamic offset: both read as one.
fn uniform_as_one(access: Access) -> Access {
    match access {
        Access::Uniform => Access::UniformDynamic,
        a => a,
    }
}

/// SPIR-V, MSL, HLSL and GLSL of one validated, specialised module.
fn translate_module(
    module: &naga::Module,
    info: &naga::valid::ModuleInfo,
    entry: &str,
    what: &str,
) {
    let entry = entry.to_string();
    let stage = naga::ShaderStage::Compute;

    let words = spv::write_vec(
        module,
        info,
        &spv::Options::default(),
        Some(&spv::PipelineOptions {
            shader_stage: stage,
            entry_point: entry.clone(),
        }),
    )
    .unwrap_or_else(|e| panic!("SPIR-V, {what}: {e}"));
    assert_eq!(words[0], 0x0723_0203, "SPIR-V magic");

    let (metal, _) = msl::write_string(
        module,
        info,
        &msl::Options {
            // Subgroup operations (simd_sum and friends) need MSL 2.1.
            lang_version: (2, 1),
            ..Default::default()
        },
        &msl::PipelineOptions {
            entry_point: Some((stage, entry.clone())),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("MSL, {what}: {e}"));
    assert!(metal.contains("kernel void"), "MSL has no kernel");

    let mut hlsl_src = String::new();
    let hlsl_options = hlsl::Options {
        // Wave intrinsics (subgroup operations) need shader model 6.0.
        shader_model: hlsl::ShaderModel::V6_0,
        ..Default::default()
    };
    let hlsl_pipeline = hlsl::PipelineOptions {
        entry_point: Some((stage, entry.clone())),
    };
    hlsl::Writer::new(&mut hlsl_src, &hlsl_options, &hlsl_pipeline)
        .write(module, info, None)
        .unwrap_or_else(|e| panic!("HLSL, {what}: {e}"));
    assert!(
        hlsl_src.contains("[numthreads("),
        "HLSL has no compute entry"
    );

    let mut glsl_src = String::new();
    let glsl_options = glsl::Options {
        version: glsl::Version::new_gles(310),
        ..Default::default()
    };
    let glsl_pipeline = glsl::PipelineOptions {
        shader_stage: stage,
        entry_point: entry.clone(),
        multiview: None,
    };
    glsl::Writer::new(
        &mut glsl_src,
        module,
        info,
        &glsl_options,
        &glsl_pipeline,
        Default::default(),
    )
    .and_then(|mut w| w.write())
    .unwrap_or_else(|e| panic!("GLSL, {what}: {e}"));
    assert!(
        glsl_src.contains("layout(local_size_x = "),
        "GLSL has no workgroup size"
    );
}

#[test]
fn every_kernel_translates_to_every_backend() {
    let energies = energies();
    // The energies between them use every op, head and activation.
    let models: Vec<&Model> = energies.iter().map(|(_, m)| m).collect();
    for head in Head::ALL {
        assert!(
            models
                .iter()
                .any(|m| m.energy.iter().any(|t| t.head == head)),
            "no energy uses the head {head}"
        );
    }
    for act in Activation::ALL {
        assert!(
            models.iter().any(|m| m
                .nodes
                .iter()
                .any(|n| n.op == ebm::energy::Op::Activation(act))),
            "no energy uses the activation {}",
            act.name()
        );
    }
    let ops: std::collections::BTreeSet<&str> = models
        .iter()
        .flat_map(|m| m.nodes.iter().map(|n| n.op.name()))
        .collect();
    for op in ebm::energy::OP_NAMES {
        assert!(ops.contains(op), "no energy uses the op {op} ({ops:?})");
    }
    for kernel in Kernel::ALL {
        for (name, model) in &energies {
            for rule in [RULE_LANGEVIN, RULE_MALA, RULE_KEEP_IF_LOWER] {
                let constants = [("WORKGROUP_SIZE", 64.0), ("RULE", f64::from(rule))];
                translate(kernel, model, name, &constants);
            }
        }
    }
}

/// The FMA peak probe (`ebm bench --peak`), which is not an MLP kernel.
#[test]
fn peak_probe_translates_to_every_backend() {
    let (_, text) = SHADER_FILES
        .iter()
        .find(|(n, _)| *n == "peak.wgsl")
        .unwrap();
    let module = naga::front::wgsl::parse_str(text).unwrap();
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .unwrap();
    let constants = naga::back::PipelineConstants::from([
        ("WORKGROUP_SIZE".to_string(), 256.0),
        ("ITERATIONS".to_string(), 1024.0),
    ]);
    let entry = Some((naga::ShaderStage::Compute, "peak"));
    let (module, info) =
        naga::back::pipeline_constants::process_overrides(&module, &info, entry, &constants)
            .unwrap();
    translate_module(&module, &info, "peak", "peak");
}

#[test]
fn workgroup_memory_is_checked_against_the_adapter() {
    let limits = common::ctx().limits();
    let constants = [("WORKGROUP_SIZE", 64.0), ("RULE", 0.0)];
    for (name, model) in energies() {
        // Every tile size the adapter runs this energy at (the tile kernel's arrays grow
        // with it), and the smallest for the kernels whose size does not depend on it.
        let fits = tile::fitting(&model, &limits);
        assert!(!fits.is_empty(), "{name}: no tile size fits the adapter");
        for kernel in Kernel::ALL {
            let sizes: &[u32] = if matches!(kernel, Kernel::Tile | Kernel::TileSubgroup) {
                &fits
            } else {
                &fits[..1]
            };
            for &chains in sizes {
                let module = specialise(kernel, &model, chains, &limits, &constants).unwrap();
                assert!(
                    workgroup_memory_bytes(&module)
                        <= u64::from(limits.max_compute_workgroup_storage_size),
                    "{kernel:?} for {name} at {chains} chains"
                );
                check_workgroup_memory("kernel", &module, &limits).unwrap();
            }
        }
    }
    // The check itself: a device that allows no workgroup memory rejects a kernel that uses it.
    let src = "var<workgroup> tile: array<f32, 300>;\n@compute @workgroup_size(1) fn main() { tile[0] = 1.0; }";
    let module = naga::front::wgsl::parse_str(src).unwrap();
    assert_eq!(workgroup_memory_bytes(&module), 1200);
    let mut small = limits.clone();
    small.max_compute_workgroup_storage_size = 1024;
    let err = check_workgroup_memory("tile", &module, &small)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "kernel tile needs 1200 bytes of workgroup memory, the adapter allows 1024"
    );
    small.max_compute_workgroup_storage_size = 1200;
    check_workgroup_memory("tile", &module, &small).unwrap();
}

/// Every kernel, for every energy and accept rule, uses at most WebGPU's default of storage
/// buffers per shader stage (`wgpu::Limits::default()`: 8), all bind groups counted; the
/// engine's layouts bind only what a kernel uses (naga's analysis, as here).
#[test]
fn every_kernel_binds_within_webgpus_default_storage_buffers() {
    let most = wgpu::Limits::default().max_storage_buffers_per_shader_stage;
    let limits = common::ctx().limits();
    for kernel in Kernel::ALL {
        for (name, model) in energies() {
            for rule in [RULE_LANGEVIN, RULE_MALA, RULE_KEEP_IF_LOWER] {
                let what = format!("{kernel:?} for {name}, rule {rule}");
                let constants = [("WORKGROUP_SIZE", 64.0), ("RULE", f64::from(rule))];
                let module = specialise(kernel, &model, 16, &limits, &constants)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                let info = naga::valid::Validator::new(
                    naga::valid::ValidationFlags::all(),
                    naga::valid::Capabilities::all(),
                )
                .validate(&module)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
                let entry = module
                    .entry_points
                    .iter()
                    .position(|e| e.name == kernel.entry_point())
                    .unwrap_or_else(|| panic!("{what}: no entry point"));
                let uses = info.get_entry_point(entry);
                let storage: Vec<String> = module
                    .global_variables
                    .iter()
                    .filter(|(h, g)| {
                        matches!(g.space, naga::AddressSpace::Storage { .. })
                            && !uses[*h].is_empty()
                    })
                    .map(|(_, g)| g.name.clone().unwrap_or_default())
                    .collect();
                assert!(
                    storage.len() as u32 <= most,
                    "{what} uses {} storage buffers, more than WebGPU's {most}: {storage:?}",
                    storage.len()
                );
            }
        }
    }
}
