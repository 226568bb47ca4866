//! `Model::from_safetensors_bytes`: the safetensors header, the metadata, the tensors'
//! shapes and dtypes, the graph's JSON and the model's validation. Any input must give a
//! model or an error, never a panic, a hang or an allocation out of proportion to it; a
//! model that loads must be valid and survive its own graph JSON.
#![no_main]

use std::collections::HashMap;

use ebm::Model;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = Model::from_safetensors_bytes(data) else {
        return;
    };
    model.validate().expect("a loaded model is valid");
    let params: HashMap<String, (Vec<usize>, Vec<f32>)> = model
        .params
        .iter()
        .map(|p| (p.name.clone(), (p.shape.clone(), p.data.clone())))
        .collect();
    let again = Model::from_graph(model.x_dim, model.y_dim, &model.graph_json(), &params)
        .expect("a loaded model's graph JSON reads back");
    assert_eq!(again, model, "the graph JSON round trip changed the model");
    let _ = model.shape();
});
