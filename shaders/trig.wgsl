// sin and cos of a reduced angle, as polynomials: the WGSL built-ins promise only 2^-11
// absolute error, and only within [-pi, pi] (SwiftShader is that coarse), so the kernels
// reduce their angles themselves and evaluate these instead.

// (sin(a), cos(a)) for a = r + q pi / 2, with r in [-pi / 4, pi / 4]: minimax polynomials
// (Cephes sinf/cosf) on r, then the quadrant q.
fn sin_cos_quadrant(r: f32, q: i32) -> vec2<f32> {
    let r2 = r * r;
    let s = r + r * r2 * (-1.6666654611e-1 + r2 * (8.3321608736e-3 + r2 * -1.9515295891e-4));
    let c = 1.0 - 0.5 * r2
        + r2 * r2 * (4.166664568298827e-2 + r2 * (-1.388731625493765e-3 + r2 * 2.443315711809948e-5));
    switch q & 3 {
        case 0: {
            return vec2<f32>(s, c);
        }
        case 1: {
            return vec2<f32>(c, -s);
        }
        case 2: {
            return vec2<f32>(-s, -c);
        }
        default: {
            return vec2<f32>(-c, s);
        }
    }
}
