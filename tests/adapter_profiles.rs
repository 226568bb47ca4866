//! The choices the GPUs `ebm` is built for will make, computed here from their limits as
//! data (`ebm::testing::profiles`: NVIDIA H100 on Vulkan, Apple M-series on Metal, AMD RDNA3 on
//! Vulkan, Intel Xe on DX12, lavapipe, and WebGPU's default limits). For every standard
//! workload and profile the plan
//! is checked statically against the specialised kernel's own array sizes (read from naga)
//! and the profile's limits; every such configuration whose workgroup memory fits this
//! adapter also runs here, planned as that GPU would plan it, against the reference.

mod common;

use common::{assert_close, ctx, data};
#[path = "../src/bin/ebm/workloads.rs"]
#[allow(dead_code)]
mod workloads;

use ebm::testing::profiles::{self, AdapterProfile};
use ebm::testing::{
    choose, specialise, tile, workgroup_memory_bytes, Compiled, Kernel, TileSizes, MAX_GROUPS,
    MAX_REGS, MAX_UNITS, RULE_KEEP_IF_LOWER, RULE_LANGEVIN, RULE_MALA, TILE_THREADS,
    WORKGROUP_SIZE,
};
use ebm::{reference, Engine, KernelPath, Model, PathChoice, RefineConfig};

/// One plan: a profile's choice for a workload.
struct Choice {
    profile: AdapterProfile,
    workload: String,
    model: Model,
    path: KernelPath,
    /// Weight rows per round and whether lane sums use subgroups (tile paths).
    k_tile: u32,
    subgroups: bool,
    /// Workgroup memory of the specialised kernel, by naga.
    bytes: u64,
}

/// Length of a private or workgroup array of a specialised module, by its name.
fn array_len(module: &naga::Module, name: &str) -> u32 {
    let (_, var) = module
        .global_variables
        .iter()
        .find(|(_, v)| v.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no global {name}"));
    match module.types[var.ty].inner {
        naga::TypeInner::Array {
            size: naga::ArraySize::Constant(n),
            ..
        } => n.get(),
        ref t => panic!("{name} is {t:?}"),
    }
}

/// Storage buffers the entry point of a specialised module binds, by naga's analysis (what
/// its pipeline's layout holds, src/gpu/pipelines.rs).
fn storage_buffers(module: &naga::Module) -> u32 {
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(module)
    .unwrap();
    let uses = info.get_entry_point(0);
    module
        .global_variables
        .iter()
        .filter(|(h, v)| {
            matches!(v.space, naga::AddressSpace::Storage { .. }) && !uses[*h].is_empty()
        })
        .count() as u32
}

/// Every (profile, standard workload) plan, checked statically.
fn plans() -> Vec<Choice> {
    let mut out = Vec::new();
    for profile in profiles::all() {
        let info = profile.info();
        let limits = &profile.limits;
        for job in workloads::suite() {
            let model = job.model().unwrap();
            let what = format!("{} / {} at batch {}", profile.name, job.name, job.batch);
            let compiled = Compiled::new(&model).unwrap_or_else(|e| panic!("{what}: {e}"));
            let path = choose(PathChoice::Auto, &compiled, job.batch, &info, limits)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let subgroups = tile::subgroup_lane_sums(profile.subgroups, profile.subgroup_min_size);
            let mut choice = Choice {
                profile: profile.clone(),
                workload: what.clone(),
                model: model.clone(),
                path,
                k_tile: 0,
                subgroups,
                bytes: 0,
            };
            match path {
                KernelPath::Tile { chains } => {
                    let sizes = TileSizes::for_model(&model, chains, limits);
                    let k_tile = sizes.k_tile;
                    let kernel = if subgroups {
                        Kernel::TileSubgroup
                    } else {
                        Kernel::Tile
                    };
                    let lanes = TILE_THREADS / (chains / 4);
                    let units = |n: usize| (n as u32).div_ceil(lanes);
                    // The energy's tensors (values, derivatives, deltas) a thread keeps.
                    let regs = tile::registers(&model, chains);
                    assert!(regs <= MAX_REGS as usize, "{what}: {regs} registers");
                    let widest = model.widths().into_iter().max().unwrap() as u32;
                    assert_eq!(sizes.chains, chains, "{what}");
                    assert_eq!(sizes.width, widest, "{what}");
                    assert_eq!(sizes.regs as usize, regs.max(1), "{what}");
                    assert!(units(widest as usize) <= MAX_UNITS, "{what}");
                    for rule in [RULE_LANGEVIN, RULE_MALA, RULE_KEEP_IF_LOWER] {
                        let constants = [
                            ("WORKGROUP_SIZE", f64::from(TILE_THREADS)),
                            ("RULE", f64::from(rule)),
                        ];
                        let module = specialise(kernel, &model, chains, limits, &constants)
                            .unwrap_or_else(|e| panic!("{what}: {e}"));
                        // The registers the plan fills are within the kernel's arrays.
                        assert!(
                            regs as u32 <= array_len(&module, "regs"),
                            "{what}: {regs} registers"
                        );
                        assert!(
                            units(widest as usize) <= array_len(&module, "acc"),
                            "{what}"
                        );
                        assert!(chains / 4 <= array_len(&module, "group_live"), "{what}");
                        assert_eq!(array_len(&module, "act"), widest * chains / 4, "{what}");
                        assert_eq!(array_len(&module, "wtile"), k_tile * widest, "{what}");
                        let storage = storage_buffers(&module);
                        assert!(
                            storage <= limits.max_storage_buffers_per_shader_stage,
                            "{what}: {storage} storage buffers"
                        );
                        // Workgroup memory: within the profile's limit, and as the planner
                        // counted it.
                        let bytes = workgroup_memory_bytes(&module);
                        let planned = tile::workgroup_bytes(&model, chains, k_tile);
                        assert!(
                            bytes <= u64::from(limits.max_compute_workgroup_storage_size),
                            "{what}: {bytes} bytes of workgroup memory"
                        );
                        assert!(
                            bytes <= planned && planned - bytes <= 16,
                            "{what}: naga lays out {bytes} bytes, the planner counts {planned}"
                        );
                        choice.bytes = bytes;
                    }
                    assert!(TILE_THREADS <= limits.max_compute_invocations_per_workgroup);
                    assert!(TILE_THREADS <= limits.max_compute_workgroup_size_x);
                    if subgroups {
                        // Every subgroup's MAX_GROUPS sums have a slot.
                        assert!(
                            (TILE_THREADS / profile.subgroup_min_size) * MAX_GROUPS <= TILE_THREADS,
                            "{what}"
                        );
                    }
                    choice.k_tile = k_tile;
                }
                KernelPath::Chain | KernelPath::Layered => {
                    assert!(WORKGROUP_SIZE <= limits.max_compute_invocations_per_workgroup);
                }
            }
            // Every other kernel the crate ships (the tile's is checked above, at the size
            // chosen), whichever path was chosen: within the profile's storage buffers and
            // workgroup memory.
            for kernel in Kernel::ALL
                .into_iter()
                .filter(|k| !matches!(k, Kernel::Tile | Kernel::TileSubgroup))
            {
                let constants = [
                    ("WORKGROUP_SIZE", f64::from(WORKGROUP_SIZE)),
                    ("RULE", f64::from(RULE_MALA)),
                ];
                let module = specialise(kernel, &model, 4, limits, &constants)
                    .unwrap_or_else(|e| panic!("{what} {kernel:?}: {e}"));
                let storage = storage_buffers(&module);
                assert!(
                    storage <= limits.max_storage_buffers_per_shader_stage,
                    "{what} {kernel:?}: {storage} storage buffers"
                );
                let bytes = workgroup_memory_bytes(&module);
                assert!(
                    bytes <= u64::from(limits.max_compute_workgroup_storage_size),
                    "{what} {kernel:?}: {bytes} bytes of workgroup memory"
                );
            }
            out.push(choice);
        }
    }
    out
}

#[test]
fn every_profile_plans_every_workload_within_the_kernels_and_its_limits() {
    let plans = plans();
    let pick = |profile: &str, workload: &str| {
        plans
            .iter()
            .find(|c| c.profile.name.contains(profile) && c.workload.contains(workload))
            .unwrap_or_else(|| panic!("no plan for {profile} / {workload}"))
    };
    for c in &plans {
        println!(
            "{:<40} {:<28} {:<8} K_TILE {:>2} subgroups {:<5} {:>6} bytes",
            c.profile.name, c.workload, c.path, c.k_tile, c.subgroups, c.bytes
        );
    }
    // What the planner is built to choose on the GPUs it targets (benches/RESULTS.md).
    let h100 = |w| pick("H100", w).path;
    assert_eq!(h100("r1 at batch 8192"), KernelPath::Tile { chains: 32 });
    assert_eq!(h100("r1 at batch 65536"), KernelPath::Tile { chains: 32 });
    assert_eq!(h100("r1 at batch 1024"), KernelPath::Tile { chains: 8 });
    assert_eq!(h100("latency"), KernelPath::Tile { chains: 4 });
    assert!(pick("H100", "r1 at batch 8192").subgroups);
    // 32 KiB of threadgroup memory: r1 at most 16 chains a workgroup; wgpu reports Metal's
    // subgroups as 4 to 64 wide, too narrow a minimum for the subgroup lane sums.
    assert_eq!(
        pick("Apple", "r1 at batch 8192").path,
        KernelPath::Tile { chains: 16 }
    );
    assert!(!pick("Apple", "r1 at batch 8192").subgroups);
    assert_eq!(
        pick("AMD", "r1 at batch 65536").path,
        KernelPath::Tile { chains: 32 }
    );
    assert_eq!(
        pick("Intel", "r1 at batch 8192").path,
        KernelPath::Tile { chains: 16 }
    );
    // A CPU adapter runs one chain per invocation.
    assert_eq!(pick("lavapipe", "r1 at batch 8192").path, KernelPath::Chain);
    // Within WebGPU's defaults every workload has a path (plans() panics where one has none).
    assert!(plans.iter().any(|c| c.profile.name == "WebGPU defaults"));
}

/// Each tile configuration a profile chooses that fits this adapter's workgroup memory runs
/// here, planned with the profile's limits (so with its K_TILE) and its lane-sum variant.
#[test]
fn profile_configurations_that_fit_here_run_against_the_reference() {
    let here = ctx();
    let limit = u64::from(here.limits().max_compute_workgroup_storage_size);
    let here_subgroups = tile::subgroup_lane_sums(
        here.features().contains(wgpu::Features::SUBGROUP),
        here.adapter_info().subgroup_min_size,
    );
    let mut done: Vec<(String, KernelPath, u32, bool)> = Vec::new();
    for c in plans() {
        let KernelPath::Tile { chains } = c.path else {
            continue;
        };
        let key = (
            format!("{:?}", c.model.widths()),
            c.path,
            c.k_tile,
            c.subgroups,
        );
        if c.bytes > limit || done.contains(&key) || (c.subgroups && !here_subgroups) {
            continue;
        }
        let what = format!("{} ({} K_TILE {})", c.workload, c.path, c.k_tile);
        let mut engine = Engine::with_path(&here, &c.model, PathChoice::Exactly(c.path))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        engine
            .set_planning_limits(c.profile.limits.clone())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        engine
            .set_subgroups(c.subgroups)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(engine.uses_subgroups(), c.subgroups);
        engine.poison_outputs(true);
        let n = 2 * chains as usize + 3;
        let m = &c.model;
        let x = data(n * m.x_dim, 1.0, 5);
        let y0 = data(n * m.y_dim, 1.0, 6);
        let cfg = RefineConfig {
            steps: 3,
            step_size: 0.05,
            temperature: 0.1,
            seed: 11,
            ..Default::default()
        };
        let got = engine.refine(&x, &y0, &cfg).unwrap();
        assert_eq!(got.path, c.path);
        let (y, energy) = reference::refine(m, &x, &y0, &cfg);
        assert_close(&format!("{what}: y"), &got.y, &y);
        assert_close(&format!("{what}: energy"), &got.energy, &energy);
        done.push(key);
    }
    println!("ran {} configurations: {done:?}", done.len());
    assert!(
        done.len() >= 4,
        "too few profile configurations ran here: {done:?}"
    );
}
