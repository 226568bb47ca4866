//! `ebm refine --trace FILE`: the per-step diagnostics written as CSV or JSON, the format
//! chosen by the file name.

use std::path::Path;

use ebm::refine::TraceRow;
use ebm::{Error, Result};

/// The file formats of a trace.
#[derive(Debug, PartialEq)]
enum Format {
    Csv,
    Json,
}

/// The format `path`'s name asks for.
fn format_of(path: &Path) -> Result<Format> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => Ok(Format::Csv),
        Some("json") => Ok(Format::Json),
        _ => Err(Error::config(
            "--trace",
            format!(
                "{}: the file name must end in .csv or .json",
                path.display()
            ),
        )),
    }
}

/// Checks that a trace can be written to `path` (a `.csv` or `.json` name), before the run.
pub fn check_trace_path(path: &Path) -> Result<()> {
    format_of(path).map(|_| ())
}

/// `v` in the shortest form that reads back to the same f64: plain decimals for
/// 1e-4 <= |v| < 1e16, scientific notation (`1.5e-7`) outside, `0` for zero. NaN and
/// infinities print as Rust writes them (`NaN`, `inf`, `-inf`).
pub fn number(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.is_finite() && !(1e-4..1e16).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// As [`number`], for a float32: the shortest form that reads back to the same f32.
pub fn number32(v: f32) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.is_finite() && !(1e-4..1e16).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// The trace as CSV: a header, then one line per step.
fn csv(rows: &[TraceRow]) -> String {
    let mut text = String::from("step,min_energy,mean_energy,max_energy,mean_grad_norm\n");
    for r in rows {
        text += &format!(
            "{},{},{},{},{}\n",
            r.step,
            number(r.min_energy),
            number(r.mean_energy),
            number(r.max_energy),
            number(r.mean_grad_norm)
        );
    }
    text
}

/// The trace as a JSON array of objects, one per step. JSON has no NaN or infinity: they
/// become null.
fn json(rows: &[TraceRow]) -> String {
    let num = |v: f64| match v.is_finite() {
        true => number(v),
        false => "null".into(),
    };
    let items: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "  {{\"step\": {}, \"min_energy\": {}, \"mean_energy\": {}, \"max_energy\": {}, \"mean_grad_norm\": {}}}",
                r.step,
                num(r.min_energy),
                num(r.mean_energy),
                num(r.max_energy),
                num(r.mean_grad_norm)
            )
        })
        .collect();
    format!("[\n{}\n]\n", items.join(",\n"))
}

/// Writes a trace to `path`: CSV for a `.csv` file, JSON for a `.json` file.
pub fn write_trace(path: &Path, rows: &[TraceRow]) -> Result<()> {
    let text = match format_of(path)? {
        Format::Csv => csv(rows),
        Format::Json => json(rows),
    };
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: f64) -> TraceRow {
        TraceRow {
            step: 3,
            min_energy: v,
            mean_energy: 0.25,
            max_energy: 1.5e20,
            mean_grad_norm: 0.0,
        }
    }

    #[test]
    fn float32_numbers_are_short_and_exact() {
        assert_eq!(number32(0.1), "0.1");
        assert_eq!(number32(-0.0), "0");
        assert_eq!(number32(1.0e-7), "1e-7");
        assert_eq!(number32(f32::NAN), "NaN");
        for v in [1.0f32 / 3.0, 2.5e-5, f32::MAX, f32::MIN_POSITIVE, 123456.78] {
            assert_eq!(number32(v).parse::<f32>().unwrap(), v, "{v}");
        }
    }

    #[test]
    fn numbers_are_short_and_exact() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(-3.5), "-3.5");
        assert_eq!(number(1e-4), "0.0001");
        assert_eq!(number(9.9e-5), "9.9e-5");
        assert_eq!(number(-1.2345e-30), "-1.2345e-30");
        assert_eq!(number(123456789.0), "123456789");
        assert_eq!(number(1e16), "1e16");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::NEG_INFINITY), "-inf");
        // A float32 value widened to f64 reads back to itself.
        let v = f64::from(1.0e-7f32);
        assert_eq!(number(v).parse::<f64>().unwrap(), v);
        assert!(number(v).contains('e'), "{}", number(v));
        for v in [
            1.0 / 3.0,
            1e-300,
            7.0e15,
            2.5e-5,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            assert_eq!(number(v).parse::<f64>().unwrap(), v, "{v}");
        }
    }

    #[test]
    fn csv_writes_tiny_values_in_scientific_notation() {
        let text = csv(&[row(f64::from(3.0e-9f32))]);
        let line = text.lines().nth(1).unwrap();
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields[0], "3");
        assert!(fields[1].contains("e-9") && fields[1].len() < 24, "{line}");
        assert_eq!(fields[1].parse::<f64>().unwrap(), f64::from(3.0e-9f32));
        assert_eq!(&fields[2..], ["0.25", "1.5e20", "0"]);
    }

    #[test]
    fn json_is_valid_with_exponents_and_null() {
        let text = json(&[row(1e-12), row(f64::NAN)]);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value[0]["min_energy"].as_f64(), Some(1e-12));
        assert_eq!(value[0]["max_energy"].as_f64(), Some(1.5e20));
        assert!(value[1]["min_energy"].is_null());
        assert!(text.contains("1e-12"), "{text}");
    }

    #[test]
    fn the_name_picks_the_format() {
        assert_eq!(format_of(Path::new("t.csv")).unwrap(), Format::Csv);
        assert_eq!(format_of(Path::new("a/t.json")).unwrap(), Format::Json);
        let err = check_trace_path(Path::new("t.txt"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("must end in .csv or .json"), "{err}");
    }
}
