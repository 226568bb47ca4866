// The energy MLP for one chain per invocation: forward pass keeping act(z) and act'(z) in
// scratch, and backward pass to dE/dy. The float32 twin of src/reference.rs.

fn unit(u: u32, c: u32) -> u32 {
    return u * params.stride + c;
}

// Energy of chain c's current y; leaves dE/df of the last layer in scratch at delta_a.
fn forward(c: u32) -> f32 {
    for (var l = 0u; l < params.n_layers; l++) {
        let layer = layer_table[l];
        let last = l + 1u == params.n_layers;
        for (var j = 0u; j < layer.n_out; j++) {
            let row = layer.weight + j * layer.n_in;
            var acc = weights[layer.bias + j];
            if l == 0u {
                for (var i = 0u; i < params.x_dim; i++) {
                    acc += weights[row + i] * xs[c * params.x_dim + i];
                }
                let row_y = row + params.x_dim;
                for (var k = 0u; k < params.y_dim; k++) {
                    acc += weights[row_y + k] * ys[c * params.y_dim + k];
                }
            } else {
                let prev = layer_table[l - 1u].act;
                for (var i = 0u; i < layer.n_in; i++) {
                    acc += weights[row + i] * scratch[unit(prev + i, c)];
                }
            }
            if last {
                scratch[unit(layer.act + j, c)] = acc;
            } else {
                let a = act_and_grad(acc);
                scratch[unit(layer.act + j, c)] = a.x;
                scratch[unit(layer.dact + j, c)] = a.y;
            }
        }
    }
    let out = layer_table[params.n_layers - 1u];
    var energy = 0.0;
    for (var j = 0u; j < out.n_out; j++) {
        let e = output_and_grad(scratch[unit(out.act + j, c)]);
        energy += e.x;
        scratch[unit(params.delta_a + j, c)] = e.y;
    }
    return energy;
}

// dE/dy of chain c from the state `forward(c)` left, into grads[c * y_dim ..].
fn backward(c: u32) {
    var src = params.delta_a;
    var dst = params.delta_b;
    for (var l = params.n_layers - 1u; l > 0u; l--) {
        let layer = layer_table[l];
        let dact = layer_table[l - 1u].dact;
        for (var i = 0u; i < layer.n_in; i++) {
            var g = 0.0;
            for (var j = 0u; j < layer.n_out; j++) {
                g += weights[layer.weight + j * layer.n_in + i] * scratch[unit(src + j, c)];
            }
            scratch[unit(dst + i, c)] = g * scratch[unit(dact + i, c)];
        }
        let t = src;
        src = dst;
        dst = t;
    }
    let first = layer_table[0];
    let col_y = first.weight + params.x_dim;
    for (var k = 0u; k < params.y_dim; k++) {
        var g = 0.0;
        for (var j = 0u; j < first.n_out; j++) {
            g += weights[col_y + j * first.n_in + k] * scratch[unit(src + j, c)];
        }
        grads[c * params.y_dim + k] = g;
    }
}
