//! The library names settings as Rust spells them (`RefineConfig::step_size`); the command
//! line speaks of flags (`--step-size`). This maps every error into the command line's
//! language before it is printed.

use std::path::Path;

use ebm::Error;

/// Each setting the library names, and the flag that sets it.
const FLAGS: &[(&str, &str)] = &[
    ("RefineConfig::steps", "--steps"),
    ("RefineConfig::step_size", "--step-size"),
    ("RefineConfig::temperature", "--temperature"),
    ("RefineConfig::schedule", "--schedule"),
    ("RefineConfig::seed", "--seed"),
    ("RefineConfig::chain_offset", "--chain-offset"),
    ("RefineConfig::prior_l2", "--prior-l2"),
    ("RefineConfig::clamp", "--clamp"),
    ("RefineConfig::landscape", "--landscape"),
    ("RefineConfig::clip_grad", "--clip-grad"),
    ("RefineConfig::simplex", "--simplex"),
    ("RefineConfig::trace", "--trace"),
    ("RefineConfig::dispatch_ms", "--dispatch-ms"),
    ("RefineConfig::keep_non_finite", "--keep-non-finite"),
    ("RefineConfig::vertex_penalty", "--vertex-penalty"),
    ("RefineConfig::decode", "--decode"),
    ("RefineConfig::exchange", "--replicas"),
    ("Exchange::replicas", "--replicas"),
    ("Exchange::every", "--swap-every"),
    ("Exchange::ladder", "--ladder"),
    ("Ladder::Geometric", "--ladder"),
    ("Ladder::Explicit", "--ladder-factors"),
    ("StopRule::grad", "--stop-grad"),
    ("StopRule::change", "--stop-change"),
    ("StopRule::below", "--stop-below"),
    ("Sampler::KeepIfLower::shrink", "--shrink"),
    ("Sampler::KeepIfLower::rise_tolerance", "--rise-tolerance"),
    ("Sampler::KeepIfLower", "--keep-if-lower"),
    ("Sampler::Mala::adapt_steps", "--adapt-steps"),
    ("Sampler::Mala::target_accept", "--target-accept"),
    ("Sampler::Mala", "--mala"),
    ("Schedule::shape", "--schedule"),
    ("Schedule::step_size_end", "--step-size-end"),
    ("Schedule::temperature_end", "--temperature-end"),
    ("Schedule::stages", "--stages"),
    ("Engine::set_max_chunk", "--chunk"),
    ("Engine::refine_best_of(r)", "--best-of"),
    ("Engine::refine_best_of", "--best-of"),
    ("PathChoice::AnyTile", "--kernel tile"),
    ("PathChoice::Auto", "--kernel auto"),
    ("PathChoice::Exactly", "--kernel"),
    ("PathChoice", "--kernel"),
    ("TrainConfig::objective", "--objective"),
    ("TrainConfig::alpha", "--alpha"),
    ("TrainConfig::optimizer", "--optimizer"),
    ("TrainConfig::learning_rate", "--lr"),
    ("TrainConfig::weight_decay", "--weight-decay"),
    ("TrainConfig::clip_grad_norm", "--clip-grad-norm"),
    ("TrainConfig::batch", "--batch"),
    ("TrainConfig::negatives", "--negative-*"),
    ("TrainConfig::replay", "--buffer"),
    ("TrainConfig::reinit", "--reinit"),
    ("TrainConfig::seed", "--seed"),
    ("TrainConfig::log_every", "--log-every"),
    ("TrainData::y", "--data"),
    ("TrainData::x", "--x"),
    ("Trainer::run", "--steps"),
    ("Trainer::resume", "--resume"),
];

/// The flags `ebm train` gives the negatives' sampler where `refine` has its own.
pub const NEGATIVES_FLAGS: &[(&str, &str)] = &[
    ("RefineConfig::steps", "--negative-steps"),
    ("RefineConfig::step_size", "--negative-step-size"),
    ("RefineConfig::temperature", "--negative-temperature"),
];

/// The flag that sets the library's `field`, if it has one.
#[cfg(test)]
fn flag_of(field: &str) -> Option<&'static str> {
    ebm::refine::setting_name(field, FLAGS)
}

/// `text` with every setting name in it replaced by its flag, longest names first (so
/// `Sampler::Mala::target_accept` is not read as `Sampler::Mala`). A name only counts
/// where no identifier character follows it.
#[cfg(test)]
fn in_flags(text: &str) -> String {
    ebm::refine::rename_settings(text, FLAGS)
}

/// Every setting's flag, `renamed` (a subcommand's own spellings) first.
fn flags_with(renamed: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    renamed.iter().chain(FLAGS).copied().collect()
}

/// The files behind the library's input names (`x`, `y`, `y0`, `fixed`, `TrainData::x`,
/// `TrainData::y`), and the flags a subcommand spells its own way.
#[derive(Default)]
pub struct InputFiles<'a> {
    /// `--x`.
    pub x: Option<&'a Path>,
    /// The flag and file of the chains' y: `--y` (eval), `--y0` (refine) or `--data`
    /// (train).
    pub y: Option<(&'static str, &'a Path)>,
    /// `--fixed`.
    pub fixed: Option<&'a Path>,
    /// Settings this subcommand sets by other flags than `FLAGS` says (`train`'s
    /// negatives: `NEGATIVES_FLAGS`).
    pub renamed: &'static [(&'static str, &'static str)],
}

impl InputFiles<'_> {
    /// `--y0 starts.npy` for the library's name `y0`; None for names of the CLI's own.
    fn describe(&self, name: &str) -> Option<String> {
        let (flag, path) = match name {
            "x" | "TrainData::x" => ("--x", self.x?),
            "y" | "y0" | "TrainData::y" => self.y?,
            "fixed" => ("--fixed", self.fixed?),
            _ => return None,
        };
        Some(format!("{flag} {}", path.display()))
    }
}

/// The message the command line prints for `e`: settings named by their flags, the
/// library's input names by their flag and file.
pub fn describe(e: &Error, files: &InputFiles<'_>) -> String {
    let flags = flags_with(files.renamed);
    match e {
        Error::Config { field, message } => {
            ebm::refine::describe_setting_error(field, message, &flags)
        }
        Error::Input { name, message } => {
            let name = files.describe(name).unwrap_or_else(|| name.clone());
            format!("{name}: {}", ebm::refine::rename_settings(message, &flags))
        }
        other => ebm::refine::rename_settings(&other.to_string(), &flags),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every setting name the library puts in its errors, as a field or in a message.
    const LIBRARY_FIELDS: &[&str] = &[
        "RefineConfig::steps",
        "RefineConfig::step_size",
        "RefineConfig::temperature",
        "RefineConfig::prior_l2",
        "RefineConfig::clamp",
        "RefineConfig::landscape",
        "RefineConfig::simplex",
        "RefineConfig::clip_grad",
        "RefineConfig::dispatch_ms",
        "RefineConfig::trace",
        "RefineConfig::keep_non_finite",
        "RefineConfig::vertex_penalty",
        "RefineConfig::decode",
        "RefineConfig::exchange",
        "RefineConfig::chain_offset",
        "RefineConfig::seed",
        "Exchange::replicas",
        "Exchange::every",
        "Exchange::ladder",
        "Ladder::Geometric",
        "Ladder::Explicit",
        "StopRule::grad",
        "StopRule::change",
        "StopRule::below",
        "Sampler::KeepIfLower::shrink",
        "Sampler::KeepIfLower::rise_tolerance",
        "Sampler::Mala::target_accept",
        "Sampler::Mala",
        "Schedule::step_size_end",
        "Schedule::temperature_end",
        "Schedule::shape",
        "Schedule::stages",
        "Engine::set_max_chunk",
        "Engine::refine_best_of(r)",
        "PathChoice",
        "TrainConfig::objective",
        "TrainConfig::alpha",
        "TrainConfig::optimizer",
        "TrainConfig::learning_rate",
        "TrainConfig::weight_decay",
        "TrainConfig::clip_grad_norm",
        "TrainConfig::batch",
        "TrainConfig::replay",
        "TrainConfig::reinit",
        "TrainConfig::seed",
        "TrainConfig::log_every",
        "Trainer::run",
        "Trainer::resume",
    ];

    #[test]
    fn every_library_field_maps_to_a_flag() {
        for field in LIBRARY_FIELDS {
            let flag = flag_of(field).unwrap_or_else(|| panic!("{field} has no flag"));
            assert!(flag.starts_with("--"), "{field} -> {flag}");
            let e = Error::config(field, "must be something");
            assert_eq!(
                describe(&e, &InputFiles::default()),
                format!("invalid option {flag}: must be something")
            );
        }
    }

    /// Every setting name in a string literal of the library's source (outside the
    /// binary) is one the table knows: a new one fails here until it has its flag.
    #[test]
    fn every_setting_named_in_library_strings_maps_to_a_flag() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        let mut folders = vec![src.clone()];
        while let Some(dir) = folders.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() && path != src.join("bin") {
                    folders.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    found.extend(names_in_strings(&text));
                }
            }
        }
        assert!(
            found.iter().any(|n| n == "RefineConfig::step_size"),
            "the scan found none of the library's setting names: {found:?}"
        );
        // Functions a message advises the library's user to call: no setting, and no
        // message the command line can meet (it makes the engine itself).
        const NOT_SETTINGS: [&str; 1] = ["Engine::new"];
        for name in found.iter().filter(|n| !NOT_SETTINGS.contains(&n.as_str())) {
            let mapped = in_flags(name);
            assert!(
                mapped.starts_with("--") && !mapped.contains("::"),
                "{name} (in a library string) maps to no flag: {mapped}"
            );
        }
    }

    /// `Type::name` tokens of the setting types inside string literals of `text`.
    fn names_in_strings(text: &str) -> Vec<String> {
        const TYPES: [&str; 9] = [
            "RefineConfig::",
            "Schedule::",
            "StopRule::",
            "Sampler::",
            "Engine::",
            "PathChoice",
            "TrainConfig::",
            "TrainData::",
            "Trainer::",
        ];
        let mut names = Vec::new();
        for line in text.lines() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let chars: Vec<(usize, char)> = code.char_indices().collect();
            let (mut inside, mut k) = (false, 0);
            while k < chars.len() {
                let (at, c) = chars[k];
                k += 1;
                match c {
                    '\\' if inside => k += 1,
                    '"' => inside = !inside,
                    _ if inside
                        && (k == 1 || !is_ident(chars[k - 2].1))
                        && TYPES.iter().any(|t| code[at..].starts_with(t)) =>
                    {
                        let len = code[at..]
                            .find(|c: char| !(is_ident(c) || c == ':'))
                            .unwrap_or(code.len() - at);
                        let mut token = code[at..at + len].trim_end_matches(':').to_string();
                        if code[at + len..].starts_with("(r)") {
                            token += "(r)";
                        }
                        k += token.chars().count() - 1;
                        names.push(token);
                    }
                    _ => {}
                }
            }
        }
        names
    }

    fn is_ident(c: char) -> bool {
        c.is_alphanumeric() || c == '_'
    }

    #[test]
    fn the_scan_finds_names_inside_strings_only() {
        let text = r#"
            // "RefineConfig::nothing" in a comment
            let a = PathChoice::Auto;
            Error::config("RefineConfig::step_size", "see \"Sampler::Mala\", or Engine::set_max_chunk)");
            Error::config("Engine::refine_best_of(r)", format!("x {}", RefineConfig::default()));
        "#;
        assert_eq!(
            names_in_strings(text),
            [
                "RefineConfig::step_size",
                "Sampler::Mala",
                "Engine::set_max_chunk",
                "Engine::refine_best_of(r)"
            ]
        );
    }

    #[test]
    fn names_in_messages_become_flags_longest_first() {
        let e = Error::config(
            "RefineConfig::temperature",
            "Sampler::Mala needs a temperature above 0; Sampler::Mala::target_accept too",
        );
        assert_eq!(
            describe(&e, &InputFiles::default()),
            "invalid option --temperature: --mala needs a temperature above 0; --target-accept too"
        );
        let e = Error::NonFinite {
            count: 1,
            total: 2,
            first: "chain 0 at step 1".into(),
        };
        let text = describe(&e, &InputFiles::default());
        assert!(
            text.ends_with("lower the step size (or clip with --clip-grad), or keep them with --keep-non-finite"),
            "{text}"
        );
        let e = Error::OutOfMemory {
            memory: "device",
            batch: 10,
            chunk: 10,
            bytes: 100,
        };
        assert!(describe(&e, &InputFiles::default()).ends_with("(--chunk)"));
        // A longer identifier is not a setting name.
        assert_eq!(
            in_flags("RefineConfig::steps_more"),
            "RefineConfig::steps_more"
        );
    }

    #[test]
    fn the_cli_own_flags_pass_unchanged() {
        let e = Error::config("--seed", "would be ignored");
        assert_eq!(
            describe(&e, &InputFiles::default()),
            "invalid option --seed: would be ignored"
        );
    }

    #[test]
    fn train_names_its_negatives_flags_and_data() {
        let files = InputFiles {
            x: Some(Path::new("x.npy")),
            y: Some(("--data", Path::new("y.npy"))),
            fixed: None,
            renamed: NEGATIVES_FLAGS,
        };
        let e = Error::config(
            "TrainConfig::negatives",
            "RefineConfig::step_size: must be a positive number, got -1",
        );
        assert_eq!(
            describe(&e, &files),
            "invalid option --negative-step-size: must be a positive number, got -1"
        );
        let e = Error::config(
            "RefineConfig::temperature",
            "Sampler::Mala needs a temperature above 0 at every step; RefineConfig::steps too",
        );
        assert_eq!(
            describe(&e, &files),
            "invalid option --negative-temperature: --mala needs a temperature above 0 at every step; --negative-steps too"
        );
        // refine keeps its own names.
        assert_eq!(
            describe(&e, &InputFiles::default()),
            "invalid option --temperature: --mala needs a temperature above 0 at every step; --steps too"
        );
        let e = Error::input("TrainData::y", "holds 3 values");
        assert_eq!(describe(&e, &files), "--data y.npy: holds 3 values");
        let e = Error::input("TrainData::x", "holds 3 values");
        assert_eq!(describe(&e, &files), "--x x.npy: holds 3 values");
        let e = Error::Diverged {
            step: 3,
            quantity: "loss".into(),
        };
        let text = describe(&e, &files);
        assert!(
            text.contains("(--clip-grad-norm)") && text.contains("(--alpha)"),
            "{text}"
        );
        let e = Error::config("TrainConfig::replay", "8 slots cannot give a batch of 16");
        assert_eq!(
            describe(&e, &files),
            "invalid option --buffer: 8 slots cannot give a batch of 16"
        );
    }

    #[test]
    fn input_names_become_flag_and_file() {
        let files = InputFiles {
            x: Some(Path::new("in/x.npy")),
            y: Some(("--y0", Path::new("in/starts.npy"))),
            fixed: Some(Path::new("mask.npy")),
            renamed: &[],
        };
        let show = |name: &str| describe(&Error::input(name, "holds 3 values"), &files);
        assert_eq!(show("x"), "--x in/x.npy: holds 3 values");
        assert_eq!(show("y"), "--y0 in/starts.npy: holds 3 values");
        assert_eq!(show("y0"), "--y0 in/starts.npy: holds 3 values");
        assert_eq!(show("fixed"), "--fixed mask.npy: holds 3 values");
        assert_eq!(show("other.npy"), "other.npy: holds 3 values");
        // No file given: the name stays.
        let none = describe(&Error::input("x", "m"), &InputFiles::default());
        assert_eq!(none, "x: m");
    }
}
