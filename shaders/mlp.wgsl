// The energy MLP for one chain per invocation: forward pass keeping act(z) and act'(z) in
// scratch, and backward pass to dE/dy. The float32 twin of src/reference/mlp.rs.

#import bindings.wgsl
#import activation.wgsl

fn unit(u: u32, c: u32) -> u32 {
    return u * params.stride + c;
}

// The inner products below are unrolled by 8 (same summation order) because Mesa's
// llvmpipe/lavapipe (gallivm) caps the loop back-edges of one function invocation at
// LP_MAX_TGSI_LOOP_ITERATIONS = 65535, shared by all loops in it and never reset: past
// that every loop silently stops after one iteration. Unrolling keeps forward() and
// backward() at about (weights / 8 + units) back-edges, so models up to ~500k weights
// and biases run correctly there; Engine::self_check still guards larger ones.

// Energy of chain c's current y; leaves dE/df of the last layer in scratch at delta_a.
fn forward(c: u32) -> f32 {
    for (var l = 0u; l < params.n_layers; l++) {
        let layer = layer_table[l];
        let last = l + 1u == params.n_layers;
        for (var j = 0u; j < layer.n_out; j++) {
            let row = layer.weight + j * layer.n_in;
            var acc = weights[layer.bias + j];
            if l == 0u {
                var i = 0u;
                for (; i + 8u <= params.x_dim; i += 8u) {
                    acc += weights[row + i] * xs[c * params.x_dim + i];
                    acc += weights[row + (i + 1u)] * xs[c * params.x_dim + (i + 1u)];
                    acc += weights[row + (i + 2u)] * xs[c * params.x_dim + (i + 2u)];
                    acc += weights[row + (i + 3u)] * xs[c * params.x_dim + (i + 3u)];
                    acc += weights[row + (i + 4u)] * xs[c * params.x_dim + (i + 4u)];
                    acc += weights[row + (i + 5u)] * xs[c * params.x_dim + (i + 5u)];
                    acc += weights[row + (i + 6u)] * xs[c * params.x_dim + (i + 6u)];
                    acc += weights[row + (i + 7u)] * xs[c * params.x_dim + (i + 7u)];
                }
                for (; i < params.x_dim; i++) {
                    acc += weights[row + i] * xs[c * params.x_dim + i];
                }
                let row_y = row + params.x_dim;
                var k = 0u;
                for (; k + 8u <= params.y_dim; k += 8u) {
                    acc += weights[row_y + k] * ys[c * params.y_dim + k];
                    acc += weights[row_y + (k + 1u)] * ys[c * params.y_dim + (k + 1u)];
                    acc += weights[row_y + (k + 2u)] * ys[c * params.y_dim + (k + 2u)];
                    acc += weights[row_y + (k + 3u)] * ys[c * params.y_dim + (k + 3u)];
                    acc += weights[row_y + (k + 4u)] * ys[c * params.y_dim + (k + 4u)];
                    acc += weights[row_y + (k + 5u)] * ys[c * params.y_dim + (k + 5u)];
                    acc += weights[row_y + (k + 6u)] * ys[c * params.y_dim + (k + 6u)];
                    acc += weights[row_y + (k + 7u)] * ys[c * params.y_dim + (k + 7u)];
                }
                for (; k < params.y_dim; k++) {
                    acc += weights[row_y + k] * ys[c * params.y_dim + k];
                }
            } else {
                let prev = layer_table[l - 1u].act;
                var i = 0u;
                for (; i + 8u <= layer.n_in; i += 8u) {
                    acc += weights[row + i] * scratch[unit(prev + i, c)];
                    acc += weights[row + (i + 1u)] * scratch[unit(prev + (i + 1u), c)];
                    acc += weights[row + (i + 2u)] * scratch[unit(prev + (i + 2u), c)];
                    acc += weights[row + (i + 3u)] * scratch[unit(prev + (i + 3u), c)];
                    acc += weights[row + (i + 4u)] * scratch[unit(prev + (i + 4u), c)];
                    acc += weights[row + (i + 5u)] * scratch[unit(prev + (i + 5u), c)];
                    acc += weights[row + (i + 6u)] * scratch[unit(prev + (i + 6u), c)];
                    acc += weights[row + (i + 7u)] * scratch[unit(prev + (i + 7u), c)];
                }
                for (; i < layer.n_in; i++) {
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
    return output_layer(c);
}

// Energy of chain c from the last layer's f in scratch; leaves dE/df at delta_a.
fn output_layer(c: u32) -> f32 {
    let out = layer_table[params.n_layers - 1u];
    var energy = 0.0;
    for (var j = 0u; j < out.n_out; j++) {
        let e = output_and_grad(scratch[unit(out.act + j, c)]);
        energy += e.x;
        scratch[unit(params.delta_a + j, c)] = e.y;
    }
    return energy;
}

// Column `col` of the layer's weights against a delta in scratch (from unit `src`) of chain
// c: sum over j < n_out of W[j, col] * delta[j], the backward pass's one product.
fn column_dot(layer: LayerDesc, col: u32, src: u32, c: u32) -> f32 {
    var g = 0.0;
    var j = 0u;
    for (; j + 8u <= layer.n_out; j += 8u) {
        g += weights[layer.weight + j * layer.n_in + col] * scratch[unit(src + j, c)];
        g += weights[layer.weight + (j + 1u) * layer.n_in + col] * scratch[unit(src + (j + 1u), c)];
        g += weights[layer.weight + (j + 2u) * layer.n_in + col] * scratch[unit(src + (j + 2u), c)];
        g += weights[layer.weight + (j + 3u) * layer.n_in + col] * scratch[unit(src + (j + 3u), c)];
        g += weights[layer.weight + (j + 4u) * layer.n_in + col] * scratch[unit(src + (j + 4u), c)];
        g += weights[layer.weight + (j + 5u) * layer.n_in + col] * scratch[unit(src + (j + 5u), c)];
        g += weights[layer.weight + (j + 6u) * layer.n_in + col] * scratch[unit(src + (j + 6u), c)];
        g += weights[layer.weight + (j + 7u) * layer.n_in + col] * scratch[unit(src + (j + 7u), c)];
    }
    for (; j < layer.n_out; j++) {
        g += weights[layer.weight + j * layer.n_in + col] * scratch[unit(src + j, c)];
    }
    return g;
}

// dE/dy of chain c from the state `forward(c)` left, into grads[c * y_dim ..].
fn backward(c: u32) {
    var src = params.delta_a;
    var dst = params.delta_b;
    for (var l = params.n_layers - 1u; l > 0u; l--) {
        let layer = layer_table[l];
        let dact = layer_table[l - 1u].dact;
        for (var i = 0u; i < layer.n_in; i++) {
            scratch[unit(dst + i, c)] = column_dot(layer, i, src, c) * scratch[unit(dact + i, c)];
        }
        let t = src;
        src = dst;
        dst = t;
    }
    // Layer 0's columns of y follow its x_dim columns of x.
    let first = layer_table[0];
    for (var k = 0u; k < params.y_dim; k++) {
        grads[c * params.y_dim + k] = column_dot(first, params.x_dim + k, src, c);
    }
}
