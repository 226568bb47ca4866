//! `ebm info`: every adapter wgpu sees, the one chosen, its features and limits; with
//! `--model`, the model's graph and the paths that run it there.

use ebm::energy::Op;
use ebm::{Context, Engine, Model, Result};

use crate::args::InfoArgs;

pub fn info(args: &InfoArgs) -> Result<()> {
    // A bad model file fails before any adapter is opened.
    let model = args.model.as_deref().map(Model::load).transpose()?;
    let (adapters, chosen) = ebm::adapters();
    println!("adapters seen ({}):", adapters.len());
    for (i, a) in adapters.iter().enumerate() {
        let mark = if Some(i) == chosen { "*" } else { " " };
        println!(
            " {mark} [{i}] {} ({:?}, {:?}, driver {} {})",
            a.name, a.backend, a.device_type, a.driver, a.driver_info
        );
    }
    let ctx = Context::new()?;
    let info = ctx.adapter_info();
    let l = ctx.limits();
    println!("chosen: {} on {:?}", info.name, info.backend);
    println!("features: {:?}", ctx.features());
    if let Some((offered, shapes)) = ebm::adapter_offers(&ebm::AdapterChoice::default()) {
        println!("adapter offers: {offered:?}");
        match shapes.is_empty() {
            true => println!("cooperative matrix shapes: none"),
            false => println!("cooperative matrix shapes ({}):", shapes.len()),
        }
        for s in &shapes {
            println!(
                "  {}x{}x{} {:?} -> {:?}{}",
                s.m_size,
                s.n_size,
                s.k_size,
                s.ab_type,
                s.cr_type,
                if s.saturating_accumulation {
                    " (saturating)"
                } else {
                    ""
                }
            );
        }
    }
    println!("limits:");
    let rows = [
        (
            "max_storage_buffer_binding_size",
            l.max_storage_buffer_binding_size.to_string(),
        ),
        ("max_buffer_size", l.max_buffer_size.to_string()),
        (
            "max_compute_workgroup_storage",
            l.max_compute_workgroup_storage_size.to_string(),
        ),
        (
            "max_invocations_per_workgroup",
            l.max_compute_invocations_per_workgroup.to_string(),
        ),
        (
            "max_workgroups_per_dimension",
            l.max_compute_workgroups_per_dimension.to_string(),
        ),
        (
            "max_storage_buffers_per_stage",
            l.max_storage_buffers_per_shader_stage.to_string(),
        ),
        (
            "subgroup size",
            format!("{}..{}", info.subgroup_min_size, info.subgroup_max_size),
        ),
    ];
    for (name, value) in rows {
        println!("  {name:<32} {value}");
    }
    if let Some(model) = model {
        print_graph(&model);
        println!("kernel paths on {}:", info.name);
        for (path, why) in Engine::path_report(&ctx, &model)? {
            match why {
                None => println!("  {:<8} runs it", path.to_string()),
                Some(why) => println!("  {:<8} cannot: {why}", path.to_string()),
            }
        }
    }
    Ok(())
}

/// The graph of `model`: one line per node (name, op, inputs, width, parameters), the
/// energy's terms, and which nodes are computed from x alone (once per chain and call).
fn print_graph(model: &Model) {
    let widths = model.widths();
    let on_y = model.y_dependent();
    println!(
        "model: {} ({} parameters, {} multiply-adds per pass)",
        model.shape(),
        model.param_count(),
        model.multiply_adds()
    );
    println!(
        "  {:<20} {:<28} {:>6}  inputs; parameters",
        "node", "op", "width"
    );
    for (k, node) in model.nodes.iter().enumerate() {
        let t = ebm::energy::node_tensor(k);
        let inputs: Vec<&str> = node.inputs.iter().map(|&i| model.tensor_name(i)).collect();
        let params: Vec<String> = node
            .op
            .params()
            .iter()
            .map(|(role, p)| {
                let p = &model.params[*p];
                format!("{role} {} {:?}", p.name, p.shape)
            })
            .collect();
        let once = if on_y[t] {
            ""
        } else {
            "  (x alone: once per call)"
        };
        let op = match &node.op {
            Op::Linear { .. } => "linear".to_string(),
            other => other.to_string(),
        };
        println!(
            "  {:<20} {:<28} {:>6}  {}{}{}",
            node.name,
            op,
            widths[t],
            inputs.join(", "),
            if params.is_empty() {
                String::new()
            } else {
                format!("; {}", params.join(", "))
            },
            once
        );
    }
    let terms: Vec<String> = model
        .energy
        .iter()
        .map(|t| format!("{} * {}({})", t.scale, t.head, model.tensor_name(t.input)))
        .collect();
    println!("  energy = {}", terms.join(" + "));
}
