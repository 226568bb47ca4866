//! Step-size and temperature schedules over the K steps of a refinement. The host turns a
//! schedule into one (eta, sqrt(2 eta T)) pair per step; every kernel path and the float64
//! reference read the same table, so they follow the same schedule to the bit.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// How eta and T move from their start values (`step_size`, `temperature`) to their end
/// values over the K steps, t = step / (K - 1) from 0 to 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shape {
    /// The start values at every step.
    #[default]
    Constant,
    /// start + (end - start) t.
    Linear,
    /// end + (start - end) (1 + cos(pi t)) / 2: slow at both ends.
    Cosine,
    /// start (end / start)^t: the same ratio every step (annealing); both must be > 0.
    Geometric,
}

impl Shape {
    /// Every shape, as `--schedule` names them.
    pub const ALL: [Shape; 4] = [
        Shape::Constant,
        Shape::Linear,
        Shape::Cosine,
        Shape::Geometric,
    ];

    /// The value at t in [0, 1] between `start` and `end`.
    pub(crate) fn at(self, start: f64, end: f64, t: f64) -> f64 {
        match self {
            Shape::Constant => start,
            Shape::Linear => start + (end - start) * t,
            Shape::Cosine => end + (start - end) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()),
            Shape::Geometric => start * (end / start).powf(t),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Shape::Constant => "constant",
            Shape::Linear => "linear",
            Shape::Cosine => "cosine",
            Shape::Geometric => "geometric",
        })
    }
}

impl FromStr for Shape {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Shape::ALL
            .into_iter()
            .find(|shape| shape.to_string() == s)
            .ok_or_else(|| {
                format!("unknown schedule {s:?}; expected constant, linear, cosine or geometric")
            })
    }
}

/// Where step `k` of `steps` lies between the first and the last, t = k / (steps - 1) from 0
/// to 1 (0 for a single step): what every shape is evaluated at.
pub(crate) fn fraction(k: u32, steps: u32) -> f64 {
    if steps > 1 {
        f64::from(k) / f64::from(steps - 1)
    } else {
        0.0
    }
}

/// One stage of a staged schedule: `steps` steps at a fixed step size and temperature, in
/// one energy landscape (the landscape index t of an energy E(x, y, t)) and clamp range.
/// Each stage that changes the landscape starts in it: the energy of the current y is
/// computed anew there (so keep-if-lower and MALA compare energies of one landscape
/// only), and what depends on x and t alone is computed once for the stage.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stage {
    /// Steps in this stage.
    pub steps: u32,
    /// eta.
    pub step_size: f32,
    /// T.
    pub temperature: f32,
    /// The landscape index t in this stage (None: [`super::RefineConfig::landscape`]).
    pub landscape: Option<f32>,
    /// The box [lo, hi] y is clamped to after each step of this stage (None:
    /// [`super::RefineConfig::clamp`]).
    pub clamp: Option<(f32, f32)>,
    /// With [`super::Sampler::KeepIfLower`]: every step of this stage is taken, none
    /// compared, and the step-size multiplier is left as it is (IRED's denoising step,
    /// taken before the optimisation steps that keep only what lowers the energy).
    pub take_every_step: bool,
}

/// Parses `STEPS:ETA:T[:LANDSCAPE[:LO:HI]][:take],...` (the `--stages` flag); `-` leaves the
/// landscape to `--landscape`, and a last field `take` sets [`Stage::take_every_step`].
pub fn parse_stages(s: &str) -> std::result::Result<Vec<Stage>, String> {
    s.split(',')
        .map(|part| {
            let mut fields: Vec<&str> = part.trim().split(':').map(str::trim).collect();
            let take_every_step = fields.last() == Some(&"take");
            if take_every_step {
                fields.pop();
            }
            let num = |v: &str| {
                v.parse::<f32>()
                    .map_err(|_| format!("{v:?} is not a number"))
            };
            let (steps, eta, t, landscape, clamp) = match fields[..] {
                [steps, eta, t] => (steps, eta, t, None, None),
                [steps, eta, t, l] => (steps, eta, t, Some(l), None),
                [steps, eta, t, l, lo, hi] => (steps, eta, t, Some(l), Some((num(lo)?, num(hi)?))),
                _ => {
                    return Err(format!(
                        "expected STEPS:ETA:T, STEPS:ETA:T:LANDSCAPE or STEPS:ETA:T:LANDSCAPE:LO:HI (each optionally followed by :take), got {part:?}"
                    ))
                }
            };
            Ok(Stage {
                steps: steps
                    .parse()
                    .map_err(|_| format!("{steps:?} is not a whole number of steps"))?,
                step_size: num(eta)?,
                temperature: num(t)?,
                landscape: match landscape {
                    None | Some("-") => None,
                    Some(l) => Some(num(l)?),
                },
                clamp,
                take_every_step,
            })
        })
        .collect()
}

/// A schedule: a shape from (step_size, temperature) to end values, or explicit stages.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schedule {
    /// The shape between start and end values (ignored with `stages`).
    pub shape: Shape,
    /// eta at the last step (None: the start value).
    pub step_size_end: Option<f32>,
    /// T at the last step (None: the start value).
    pub temperature_end: Option<f32>,
    /// Stages run in order instead of a shape; their steps must add up to K.
    pub stages: Vec<Stage>,
}

impl Schedule {
    /// (eta, sqrt(2 eta T)) for each of `steps` steps, in float32 as the kernels read them,
    /// for start values `eta0` and `t0`. Checks the schedule, naming the setting at fault.
    pub fn table(&self, steps: u32, eta0: f32, t0: f32) -> Result<Vec<[f32; 2]>> {
        let pair = |eta: f64, t: f64, flag: &'static str| -> Result<[f32; 2]> {
            let noise = (2.0 * eta * t).sqrt();
            let valid = eta.is_finite()
                && eta as f32 > 0.0
                && t.is_finite()
                && t >= 0.0
                && (noise as f32).is_finite();
            if !valid {
                return Err(Error::config(
                    flag,
                    format!("gives step size {eta} and temperature {t}; the step size must be a positive float32 and the temperature >= 0"),
                ));
            }
            Ok([eta as f32, noise as f32])
        };
        // Options the schedule would ignore are refused, not dropped.
        let ends = [
            ("Schedule::step_size_end", self.step_size_end.is_some()),
            ("Schedule::temperature_end", self.temperature_end.is_some()),
        ];
        if !self.stages.is_empty() {
            if self.shape != Shape::Constant {
                return Err(Error::config(
                    "Schedule::shape",
                    format!(
                        "{} would be ignored: Schedule::stages sets eta and T of every step",
                        self.shape
                    ),
                ));
            }
            if let Some((flag, _)) = ends.iter().find(|(_, set)| *set) {
                return Err(Error::config(
                    flag,
                    "would be ignored: Schedule::stages sets eta and T of every step",
                ));
            }
        } else if self.shape == Shape::Constant {
            if let Some((flag, _)) = ends.iter().find(|(_, set)| *set) {
                return Err(Error::config(
                    flag,
                    "would be ignored by a constant schedule: choose Schedule::shape linear, cosine or geometric",
                ));
            }
        }
        if !self.stages.is_empty() {
            let total: u64 = self.stages.iter().map(|s| u64::from(s.steps)).sum();
            if total != u64::from(steps) {
                return Err(Error::config(
                    "Schedule::stages",
                    format!(
                        "the stages have {total} steps in all, but RefineConfig::steps is {steps}"
                    ),
                ));
            }
            let mut out = Vec::with_capacity(steps as usize);
            for stage in &self.stages {
                let p = pair(
                    f64::from(stage.step_size),
                    f64::from(stage.temperature),
                    "Schedule::stages",
                )?;
                out.extend(std::iter::repeat_n(p, stage.steps as usize));
            }
            return Ok(out);
        }
        let (eta0, t0) = (f64::from(eta0), f64::from(t0));
        let eta1 = self.step_size_end.map_or(eta0, f64::from);
        let t1 = self.temperature_end.map_or(t0, f64::from);
        if self.shape == Shape::Geometric && (t0 > 0.0) != (t1 > 0.0) {
            return Err(Error::config(
                "Schedule::temperature_end",
                format!("a geometric schedule needs both temperatures > 0 (or both 0), got {t0} and {t1}"),
            ));
        }
        if !(eta1.is_finite() && eta1 > 0.0) {
            return Err(Error::config(
                "Schedule::step_size_end",
                format!("must be a positive number, got {eta1}"),
            ));
        }
        if !(t1.is_finite() && t1 >= 0.0) {
            return Err(Error::config(
                "Schedule::temperature_end",
                format!("must be a number >= 0, got {t1}"),
            ));
        }
        (0..steps)
            .map(|k| {
                let t = fraction(k, steps);
                let temperature = if t0 == 0.0 && t1 == 0.0 {
                    0.0
                } else {
                    self.shape.at(t0, t1, t)
                };
                pair(self.shape.at(eta0, eta1, t), temperature, "Schedule::shape")
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anneal(shape: Shape) -> Vec<[f32; 2]> {
        Schedule {
            shape,
            step_size_end: Some(0.01),
            temperature_end: Some(0.001),
            ..Default::default()
        }
        .table(11, 0.1, 1.0)
        .unwrap()
    }

    #[test]
    fn shapes_run_from_start_to_end_values() {
        for shape in [Shape::Linear, Shape::Cosine, Shape::Geometric] {
            let table = anneal(shape);
            assert_eq!(table.len(), 11);
            assert_eq!(
                table[0],
                [0.1, (2.0f64 * 0.1 * 1.0).sqrt() as f32],
                "{shape}"
            );
            let last = table[10];
            assert!((last[0] - 0.01).abs() < 1e-8, "{shape}: {last:?}");
            assert!(
                (last[1] - (2.0f32 * 0.01 * 0.001).sqrt()).abs() < 1e-7,
                "{shape}"
            );
            assert!(
                table.windows(2).all(|w| w[1][0] < w[0][0]),
                "{shape}: not decreasing"
            );
        }
        let linear = anneal(Shape::Linear);
        assert!((linear[5][0] - 0.055).abs() < 1e-7);
        let cosine = anneal(Shape::Cosine);
        assert!(
            (cosine[5][0] - 0.055).abs() < 1e-7,
            "cosine is halfway at t = 1/2"
        );
        assert!(
            cosine[1][0] > linear[1][0],
            "cosine starts slower than linear"
        );
        let geometric = anneal(Shape::Geometric);
        let ratio = |k: usize| f64::from(geometric[k + 1][0]) / f64::from(geometric[k][0]);
        assert!(
            (ratio(0) - ratio(8)).abs() < 1e-6,
            "geometric keeps one ratio"
        );
        let constant = Schedule::default().table(11, 0.1, 1.0).unwrap();
        assert!(constant.iter().all(|p| *p == constant[0]));
    }

    /// An end value a constant schedule, or stages, would not use is refused by name.
    #[test]
    fn options_a_schedule_would_ignore_are_refused() {
        let constant_with_end = Schedule {
            step_size_end: Some(0.01),
            ..Default::default()
        };
        let err = constant_with_end
            .table(10, 0.1, 1.0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Schedule::step_size_end") && err.contains("ignored"),
            "{err}"
        );
        let constant_with_t_end = Schedule {
            temperature_end: Some(0.01),
            ..Default::default()
        };
        let err = constant_with_t_end
            .table(10, 0.1, 1.0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Schedule::temperature_end"), "{err}");
        let stages_and_shape = Schedule {
            shape: Shape::Cosine,
            stages: parse_stages("10:0.1:1").unwrap(),
            ..Default::default()
        };
        let err = stages_and_shape
            .table(10, 0.1, 1.0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Schedule::shape") && err.contains("Schedule::stages"),
            "{err}"
        );
        let stages_and_end = Schedule {
            temperature_end: Some(0.5),
            stages: parse_stages("10:0.1:1").unwrap(),
            ..Default::default()
        };
        let err = stages_and_end.table(10, 0.1, 1.0).unwrap_err().to_string();
        assert!(err.contains("Schedule::temperature_end"), "{err}");
    }

    #[test]
    fn stages_run_in_order_and_must_cover_every_step() {
        let stages = parse_stages("2:0.1:1, 3:0.01:0").unwrap();
        let schedule = Schedule {
            stages,
            ..Default::default()
        };
        let table = schedule.table(5, 0.5, 0.5).unwrap();
        assert_eq!(table[1], [0.1, (0.2f64).sqrt() as f32]);
        assert_eq!(table[2], [0.01, 0.0]);
        let err = schedule.table(6, 0.5, 0.5).unwrap_err().to_string();
        assert!(
            err.contains("Schedule::stages") && err.contains("5 steps"),
            "{err}"
        );
        assert!(parse_stages("2:0.1").is_err());
        assert!(parse_stages("x:0.1:1").is_err());
    }

    #[test]
    fn stages_may_set_the_landscape_and_the_clamp_range() {
        let stages = parse_stages("2:0.1:1:3.5, 3:0.01:0:-1:-0.5:0.5, 1:0.1:0:-, 4:0.2:0").unwrap();
        assert_eq!(stages[0].landscape, Some(3.5));
        assert_eq!(stages[0].clamp, None);
        assert_eq!(stages[1].landscape, Some(-1.0));
        assert_eq!(stages[1].clamp, Some((-0.5, 0.5)));
        assert_eq!((stages[2].landscape, stages[2].clamp), (None, None));
        assert_eq!(
            stages[3],
            Stage {
                steps: 4,
                step_size: 0.2,
                temperature: 0.0,
                ..Default::default()
            }
        );
        let take = parse_stages("1:0.3:0:9:-2:2:take, 2:0.1:0:take").unwrap();
        assert!(take.iter().all(|s| s.take_every_step));
        assert_eq!(
            (take[0].landscape, take[0].clamp),
            (Some(9.0), Some((-2.0, 2.0)))
        );
        for bad in [
            "take",
            "2:0.1:1:x",
            "2:0.1:1:1:0",
            "2:0.1:1:1:a:b",
            "2:0.1:1:1:0:1:2",
        ] {
            assert!(parse_stages(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_schedules_name_their_flag() {
        let geometric_to_zero = Schedule {
            shape: Shape::Geometric,
            temperature_end: Some(0.0),
            ..Default::default()
        };
        let err = geometric_to_zero
            .table(10, 0.1, 1.0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Schedule::temperature_end"), "{err}");
        let negative = Schedule {
            shape: Shape::Linear,
            step_size_end: Some(-1.0),
            ..Default::default()
        };
        let err = negative.table(10, 0.1, 1.0).unwrap_err().to_string();
        assert!(err.contains("Schedule::step_size_end"), "{err}");
        assert_eq!(
            "warm".parse::<Shape>().unwrap_err(),
            "unknown schedule \"warm\"; expected constant, linear, cosine or geometric"
        );
    }
}
