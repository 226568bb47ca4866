//! `ebm info`: every adapter wgpu sees, the one chosen, its features and limits.

use ebm::{Context, Result};

pub fn info() -> Result<()> {
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
    Ok(())
}
