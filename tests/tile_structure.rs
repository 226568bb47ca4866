//! The tile kernel's structure, read from its naga module: y read and written once per
//! dispatch, never inside the step loop; what depends on x alone computed once per
//! dispatch, before it.

mod common;

use ebm::testing::{samples, specialise, Kernel};
use ebm::{Activation, Model, Output};

/// The structural half of the tile kernel's cost model: a step (the energy's forward and
/// backward passes, the update, an accept rule's settling) reads no device memory but the
/// weights and its step's row of the schedule (eta, noise scale), and writes none. x and y are read once per
/// dispatch (load_state, energy_pre) and y written once (store_state), outside the loop.
/// Held for an MLP, a FiLM graph, whose x-only scale and shift (energy_pre) must not be
/// recomputed, nor x read, inside the loop, and a FiLM by the landscape index t (IRED's
/// shape), whose embedding of t is computed in energy_pre too.
#[test]
fn tile_kernel_keeps_y_on_chip_between_steps() {
    let models: [(&str, Model); 3] = [
        (
            "MLP",
            common::model(3, 4, &[32, 32], Activation::Silu, Output::Identity, 1),
        ),
        ("FiLM", samples::film(4, 3, 8, 2)),
        ("FiLM by t", samples::film_by_t(4, 3, 8, 2)),
    ];
    let limits = wgpu::Limits::default();
    for (name, model) in &models {
        for rule in [
            ebm::testing::RULE_LANGEVIN,
            ebm::testing::RULE_MALA,
            ebm::testing::RULE_KEEP_IF_LOWER,
        ] {
            let what = format!("{name}, rule {rule}");
            check_tile_structure(model, &limits, rule, &what);
        }
    }
}

fn check_tile_structure(model: &Model, limits: &wgpu::Limits, rule: u32, what: &str) {
    let constants = [("WORKGROUP_SIZE", 256.0), ("RULE", f64::from(rule))];
    let module = specialise(Kernel::Tile, model, 16, limits, &constants).unwrap();
    let function = |name: &str| {
        module
            .functions
            .iter()
            .find(|(_, f)| f.name.as_deref() == Some(name))
            .map(|(_, f)| f)
            .unwrap_or_else(|| panic!("{what}: tile.wgsl has no fn {name}"))
    };
    let mut storage: Vec<String> = module
        .global_variables
        .iter()
        .filter(|(_, v)| matches!(v.space, naga::AddressSpace::Storage { .. }))
        .map(|(_, v)| v.name.clone().unwrap())
        .collect();
    // The schedule is the first rows of `controls` (the fixed flags follow), read through
    // schedule_row alone, which globals_used counts as a read of `schedule`.
    let mut row = Default::default();
    globals_used(&module, function(SCHEDULE_ROW), &mut row);
    row.retain(|g| storage.contains(g));
    assert_eq!(
        row,
        ["controls".to_string()].into(),
        "{what}: {SCHEDULE_ROW}"
    );
    storage.push("schedule".into());
    let device_used = |f: &naga::Function| -> Vec<String> {
        let mut used = Default::default();
        globals_used(&module, f, &mut used);
        used.into_iter().filter(|g| storage.contains(g)).collect()
    };
    let step_only = |device: &[String]| {
        device
            .iter()
            .all(|g| ["weights", "schedule"].contains(&g.as_str()))
    };
    // The parts of a step, named.
    for step_part in ["energy_forward", "energy_backward", "update", "settle4"] {
        let device = device_used(function(step_part));
        assert!(step_only(&device), "{what}: {step_part} touches {device:?}");
    }
    // ... and what they do read.
    assert!(device_used(function("energy_forward")).contains(&"weights".to_string()));
    assert!(device_used(function("update")).contains(&"schedule".to_string()));
    // Every function the step loop calls, whatever its name. begin4 alone may write the
    // per-step trace record (an option: the energy and gradient norm of each chain).
    let entry = &module.entry_points[0].function;
    let mut in_loop = Vec::new();
    let mut loops = 0;
    for stmt in entry.body.iter() {
        if let naga::Statement::Loop {
            body, continuing, ..
        } = stmt
        {
            loops += 1;
            calls(body, &mut in_loop);
            calls(continuing, &mut in_loop);
        }
    }
    assert_eq!(loops, 1, "{what}: the entry point has one step loop");
    let in_loop: std::collections::BTreeSet<String> = in_loop
        .into_iter()
        .map(|f| module.functions[f].name.clone().unwrap_or_default())
        .collect();
    for part in ["energy_forward", "energy_backward", "update"] {
        assert!(
            in_loop.contains(part),
            "{what}: the step loop does not call {part} (calls {in_loop:?})"
        );
    }
    assert!(
        !in_loop.contains("energy_pre"),
        "{what}: energy_pre inside the step loop"
    );
    for name in &in_loop {
        let mut device = device_used(function(name));
        if name == "begin4" {
            device.retain(|g| g != "trace");
        }
        assert!(
            step_only(&device),
            "{what}: {name}, called in the step loop, touches {device:?}"
        );
    }
    // x is read before the loop: by load_state or the x-only part of the energy.
    let mut load = Default::default();
    globals_used(&module, function("load_state"), &mut load);
    assert!(load.contains("ys"), "{what}: load_state reads {load:?}");
    let mut pre = Default::default();
    globals_used(&module, function("energy_pre"), &mut pre);
    assert!(
        pre.contains("xs"),
        "{what}: energy_pre does not read x ({pre:?})"
    );
    let mut store = Default::default();
    globals_used(&module, function("store_state"), &mut store);
    assert!(store.contains("ys"), "{what}: store_state uses {store:?}");
    // The entry point calls each exactly once, outside any loop.
    let top_level_calls: Vec<_> = entry
        .body
        .iter()
        .filter_map(|s| match s {
            naga::Statement::Call { function, .. } => module.functions[*function].name.clone(),
            _ => None,
        })
        .collect();
    for once in ["load_state", "energy_pre", "store_state"] {
        assert_eq!(
            top_level_calls.iter().filter(|n| *n == once).count(),
            1,
            "{what}: {once} called {top_level_calls:?}"
        );
    }
}

/// The functions a block calls (not those they call).
fn calls(block: &naga::Block, found: &mut Vec<naga::Handle<naga::Function>>) {
    for stmt in block.iter() {
        match stmt {
            naga::Statement::Call { function, .. } => found.push(*function),
            naga::Statement::Block(b) => calls(b, found),
            naga::Statement::If { accept, reject, .. } => {
                calls(accept, found);
                calls(reject, found);
            }
            naga::Statement::Loop {
                body, continuing, ..
            } => {
                calls(body, found);
                calls(continuing, found);
            }
            naga::Statement::Switch { cases, .. } => {
                cases.iter().for_each(|c| calls(&c.body, found))
            }
            _ => {}
        }
    }
}

/// The function through which the kernels read a row of the step table (eta, the noise
/// scale, the prior) from `controls`.
const SCHEDULE_ROW: &str = "schedule_row";

/// Global variables a function uses, directly or through the functions it calls; a call of
/// schedule_row counts as a use of `schedule` (the step table), not of `controls`.
fn globals_used(
    module: &naga::Module,
    function: &naga::Function,
    out: &mut std::collections::BTreeSet<String>,
) {
    for (_, expr) in function.expressions.iter() {
        if let naga::Expression::GlobalVariable(g) = expr {
            out.insert(module.global_variables[*g].name.clone().unwrap_or_default());
        }
    }
    let mut found = Vec::new();
    calls(&function.body, &mut found);
    for f in found {
        let callee = &module.functions[f];
        if callee.name.as_deref() == Some(SCHEDULE_ROW) {
            out.insert("schedule".into());
        } else {
            globals_used(module, callee, out);
        }
    }
}
