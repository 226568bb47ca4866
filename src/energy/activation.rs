//! Hidden-layer activations and output functions: names, their float64 definitions (the
//! reference the WGSL twins in `shaders/activation.wgsl` are held to), and the ids the
//! shaders are specialised with.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// The activation after every layer but the last; each matches PyTorch's definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `max(0, z)`.
    Relu,
    /// `z` for `z > 0`, else `0.01 z` (PyTorch's default slope).
    LeakyRelu,
    /// `tanh(z)`.
    Tanh,
    /// `1 / (1 + exp(-z))`.
    Sigmoid,
    /// `z * sigmoid(z)`.
    Silu,
    /// `z * Phi(z)` with the exact erf form (PyTorch's default `gelu`).
    Gelu,
    /// `0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))` (`gelu(approximate="tanh")`).
    GeluTanh,
    /// `log(1 + exp(z))`, and `z` above 20 (PyTorch's threshold).
    Softplus,
    /// `sin(z)` (a sinusoidal embedding of t: IRED's, a diffusion model's).
    Sin,
    /// `cos(z)`.
    Cos,
}

/// How the last layer's outputs f become the scalar energy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Output {
    /// `E = f` (one output).
    Identity,
    /// `E = |f|^2`, the sum of squares of m >= 1 outputs.
    Square,
    /// `E = softplus(f)` (one output): a non-negative energy.
    Softplus,
}

const LEAKY_SLOPE: f64 = 0.01;
const SOFTPLUS_THRESHOLD: f64 = 20.0;

impl Activation {
    /// Every activation, in shader-id order.
    pub const ALL: [Activation; 10] = [
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Silu,
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Softplus,
        Activation::Sin,
        Activation::Cos,
    ];

    /// The name used in model files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Silu => "silu",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_tanh",
            Activation::Softplus => "softplus",
            Activation::Sin => "sin",
            Activation::Cos => "cos",
        }
    }

    /// The value of the `ACTIVATION` override constant in the shaders.
    pub fn shader_id(self) -> u32 {
        Self::ALL.iter().position(|&a| a == self).unwrap() as u32
    }

    /// The activation and its derivative at `z`, in float64.
    pub fn eval(self, z: f64) -> (f64, f64) {
        match self {
            Activation::Relu => {
                if z > 0.0 {
                    (z, 1.0)
                } else {
                    (0.0, 0.0)
                }
            }
            Activation::LeakyRelu => {
                if z > 0.0 {
                    (z, 1.0)
                } else {
                    (LEAKY_SLOPE * z, LEAKY_SLOPE)
                }
            }
            Activation::Tanh => {
                let t = z.tanh();
                (t, 1.0 - t * t)
            }
            Activation::Sigmoid => {
                let s = sigmoid(z);
                (s, s * (1.0 - s))
            }
            Activation::Silu => {
                let s = sigmoid(z);
                (z * s, s + z * s * (1.0 - s))
            }
            Activation::Gelu => {
                let cdf = 0.5 * (1.0 + libm::erf(z / std::f64::consts::SQRT_2));
                let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
                (z * cdf, cdf + z * pdf)
            }
            Activation::GeluTanh => {
                let k = (2.0 / std::f64::consts::PI).sqrt();
                let u = k * (z + 0.044715 * z * z * z);
                let t = u.tanh();
                let du = k * (1.0 + 3.0 * 0.044715 * z * z);
                (
                    0.5 * z * (1.0 + t),
                    0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * du,
                )
            }
            Activation::Softplus => softplus(z),
            Activation::Sin => (z.sin(), z.cos()),
            Activation::Cos => (z.cos(), -z.sin()),
        }
    }
}

impl Output {
    /// Every output function, in shader-id order.
    pub const ALL: [Output; 3] = [Output::Identity, Output::Square, Output::Softplus];

    /// The name used in model files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Output::Identity => "identity",
            Output::Square => "square",
            Output::Softplus => "softplus",
        }
    }

    /// The value of the `OUTPUT` override constant in the shaders.
    pub fn shader_id(self) -> u32 {
        Self::ALL.iter().position(|&a| a == self).unwrap() as u32
    }

    /// Whether the last layer may have more than one output.
    pub fn allows_vector(self) -> bool {
        matches!(self, Output::Square)
    }

    /// The energy of the last layer's outputs `f`, and writes dE/df into `grad`.
    pub fn eval(self, f: &[f64], grad: &mut [f64]) -> f64 {
        match self {
            Output::Identity => {
                grad[0] = 1.0;
                f[0]
            }
            Output::Square => {
                let mut e = 0.0;
                for (g, &v) in grad.iter_mut().zip(f) {
                    *g = 2.0 * v;
                    e += v * v;
                }
                e
            }
            Output::Softplus => {
                let (e, d) = softplus(f[0]);
                grad[0] = d;
                e
            }
        }
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn softplus(z: f64) -> (f64, f64) {
    if z > SOFTPLUS_THRESHOLD {
        (z, 1.0)
    } else {
        (z.max(0.0) + (-z.abs()).exp().ln_1p(), sigmoid(z))
    }
}

macro_rules! named_enum {
    ($ty:ty, $what:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $ty {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                <$ty>::ALL
                    .into_iter()
                    .find(|a| a.name() == s)
                    .ok_or_else(|| {
                        let names: Vec<_> = <$ty>::ALL.iter().map(|a| a.name()).collect();
                        Error::Model(format!(
                            "unknown {} {s:?}; expected one of {}",
                            $what,
                            names.join(", ")
                        ))
                    })
            }
        }
    };
}

named_enum!(Activation, "activation");
named_enum!(Output, "output");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_match_finite_differences() {
        for act in Activation::ALL {
            for &z in &[-3.7, -1.1, -0.3, 0.2, 0.9, 2.5, 4.0] {
                let h = 1e-6;
                let fd = (act.eval(z + h).0 - act.eval(z - h).0) / (2.0 * h);
                let d = act.eval(z).1;
                assert!((fd - d).abs() < 1e-7, "{act} at {z}: {d} vs {fd}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for act in Activation::ALL {
            assert_eq!(act.name().parse::<Activation>().unwrap(), act);
        }
        for out in Output::ALL {
            assert_eq!(out.name().parse::<Output>().unwrap(), out);
        }
        let err = "swish".parse::<Activation>().unwrap_err().to_string();
        assert!(err.contains("unknown activation \"swish\""), "{err}");
    }
}
