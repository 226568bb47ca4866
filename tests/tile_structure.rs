//! The tile kernel's structure, read from its naga module: y read and written once per
//! dispatch, never inside the step loop.

use ebm::testing::{specialise, Kernel, TileSizes};

/// The structural half of the tile kernel's cost model: a step (forward, backward,
/// update) reads no device memory but the weights, the layer table and its step's
/// (eta, noise scale), and writes none. x and y are read
/// once per dispatch (load_state) and y written once (store_state), outside the loop.
#[test]
fn tile_kernel_keeps_y_on_chip_between_steps() {
    let constants = [
        ("ACTIVATION", 4.0),
        ("OUTPUT", 0.0),
        ("WORKGROUP_SIZE", 256.0),
        ("RULE", 0.0),
    ];
    let module = specialise(Kernel::Tile, &TileSizes::default(), &constants).unwrap();
    let function = |name: &str| {
        module
            .functions
            .iter()
            .find(|(_, f)| f.name.as_deref() == Some(name))
            .map(|(_, f)| f)
            .unwrap_or_else(|| panic!("tile.wgsl has no fn {name}"))
    };
    let storage: Vec<String> = module
        .global_variables
        .iter()
        .filter(|(_, v)| matches!(v.space, naga::AddressSpace::Storage { .. }))
        .map(|(_, v)| v.name.clone().unwrap())
        .collect();
    for step_part in ["forward", "backward", "update"] {
        let mut used = Default::default();
        globals_used(&module, function(step_part), &mut used);
        let device: Vec<_> = used.iter().filter(|g| storage.contains(g)).collect();
        assert!(
            device
                .iter()
                .all(|g| ["weights", "layer_table", "schedule"].contains(&g.as_str())),
            "{step_part} touches {device:?}"
        );
    }
    let mut load = Default::default();
    globals_used(&module, function("load_state"), &mut load);
    assert!(load.contains("ys") && load.contains("xs"));
    let mut store = Default::default();
    globals_used(&module, function("store_state"), &mut store);
    assert!(store.contains("ys"));
    // The entry point calls each exactly once, outside any loop.
    let entry = &module.entry_points[0].function;
    let top_level_calls: Vec<_> = entry
        .body
        .iter()
        .filter_map(|s| match s {
            naga::Statement::Call { function, .. } => module.functions[*function].name.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(
        top_level_calls
            .iter()
            .filter(|n| *n == "load_state")
            .count(),
        1
    );
    assert_eq!(
        top_level_calls
            .iter()
            .filter(|n| *n == "store_state")
            .count(),
        1
    );
}

/// Global variables a function uses, directly or through the functions it calls.
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
    let mut found = Vec::new();
    calls(&function.body, &mut found);
    for f in found {
        globals_used(module, &module.functions[f], out);
    }
}
