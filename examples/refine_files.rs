//! Refines answers read from files, as an application embedding `ebm` would: a model from
//! safetensors, x and y0 from float32 .npy files (`[n, x_dim]`, `[n, y_dim]`), and prints
//! what came back.
//!
//!     cargo run --release --example refine_files -- MODEL.safetensors X.npy Y0.npy
//!
//! For an unconditional model (x_dim 0), pass `-` for X.npy.

use ebm::{Context, Engine, Model, RefineConfig};

/// A float32 .npy file (C order), read with the `npyz` crate.
fn read_npy(path: &str) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    let file =
        std::io::BufReader::new(std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?);
    let array = npyz::NpyFile::new(file).map_err(|e| format!("{path}: {e}"))?;
    Ok(array
        .into_vec::<f32>()
        .map_err(|e| format!("{path}: {e} (a float32 array is needed)"))?)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, x, y0] = args.as_slice() else {
        eprintln!("usage: refine_files MODEL.safetensors X.npy|- Y0.npy");
        std::process::exit(2);
    };
    if let Err(e) = run(model, x, y0) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(model: &str, x: &str, y0: &str) -> Result<(), Box<dyn std::error::Error>> {
    let ctx = Context::new()?;
    let model = Model::load(model)?;
    let engine = Engine::new(&ctx, &model)?;
    let x = if x == "-" { Vec::new() } else { read_npy(x)? };
    let y0 = read_npy(y0)?;
    let config = RefineConfig {
        steps: 100,
        step_size: 0.01,
        ..Default::default()
    };
    let before = engine.eval(&x, &y0)?;
    let out = engine.refine(&x, &y0, &config)?;
    let mean = |v: &[f32]| v.iter().map(|&e| f64::from(e)).sum::<f64>() / v.len() as f64;
    println!(
        "{} chains, {} steps on the {} path of {}: mean energy {:.4} -> {:.4}",
        out.energy.len(),
        config.steps,
        out.path,
        ctx.adapter_info().name,
        mean(&before.energy),
        mean(&out.energy)
    );
    println!("first chain ends at {:?}", &out.y[..model.y_dim]);
    Ok(())
}
