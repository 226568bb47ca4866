//! Every bad flag of `ebm refine` gets a clear error that names it (the library's setting
//! names mapped to flags), with exit code 2 and no output: out-of-range values, sampler,
//! stop and trace options, and options the run would ignore.

mod cli_support;
mod common;

use cli_support::{assert_has, refine_fails, refine_output, Dir};

#[test]
fn bad_options_name_their_flag() {
    let d = Dir::new();
    let (m, x, y) = d.good();
    let out = d.path("out.safetensors");
    assert_has(
        &refine_fails(&m, Some(&x), &y, &out, &["--step-size", "-1"]),
        &["invalid option --step-size: must be a positive number, got -1"],
    );
    assert_has(
        &refine_fails(&m, Some(&x), &y, &out, &["--temperature", "-0.5"]),
        &["invalid option --temperature: must be a number >= 0, got -0.5"],
    );
    assert_has(
        &refine_fails(&m, Some(&x), &y, &out, &["--clamp=2,1"]),
        &["invalid option --clamp: needs finite LO <= HI, got 2,1"],
    );
    assert_has(
        &refine_fails(&m, Some(&x), &y, &out, &["--clamp=1"]),
        &["--clamp", "expected LO,HI"],
    );
    assert_has(
        &refine_fails(&m, Some(&x), &y, &out, &["--chunk", "0"]),
        &["invalid option --chunk: must be at least 1"],
    );
    assert_has(
        &refine_fails(&m, Some(&x), &y, &out, &["--schedule", "warm"]),
        &["--schedule", "unknown schedule \"warm\""],
    );
    assert_has(
        &refine_fails(&m, Some(&x), &y, &out, &["--stages", "2:0.1:1,2:0.1:0"]),
        &["invalid option --stages: the stages have 4 steps in all, but --steps is 3"],
    );
    assert_has(
        &refine_fails(&m, Some(&x), &y, &out, &["--stages", "2:0.1"]),
        &["--stages", "expected STEPS:ETA:T"],
    );
    assert_has(
        &refine_fails(
            &m,
            Some(&x),
            &y,
            &out,
            &["--schedule", "linear", "--step-size-end", "0"],
        ),
        &["invalid option --step-size-end: must be a positive number, got 0"],
    );
    assert_has(
        &refine_fails(
            &m,
            Some(&x),
            &y,
            &out,
            &[
                "--schedule",
                "geometric",
                "--temperature",
                "1",
                "--temperature-end",
                "0",
            ],
        ),
        &["invalid option --temperature-end: a geometric schedule needs both temperatures > 0"],
    );
    // A mask of the wrong width (x.npy is [5, 3]; y_dim is 4).
    let fixed_x = ["--fixed", x.to_str().unwrap()];
    assert_has(
        &refine_fails(&m, Some(&x), &y, &out, &fixed_x),
        &["x.npy", "4"],
    );
    assert_has(
        &refine_fails(&m, Some(&x), &y, &out, &["--best-of", "2"]),
        &["y.npy", "has 5 rows, not a multiple of --best-of 2"],
    );
    assert_has(
        &refine_fails(&m, Some(&x), &y, &out, &["--best-of", "0"]),
        &["invalid option --best-of: needs at least 1 chain per x"],
    );
    assert_has(
        &refine_fails(&m, Some(&x), &y, &out, &["--clip-grad", "0"]),
        &["invalid option --clip-grad: must be a positive number, got 0"],
    );
    assert_has(
        &refine_fails(&m, Some(&x), &y, &out, &["--kernel", "tile64"]),
        &["--kernel", "unknown kernel path \"tile64\""],
    );
}

#[test]
fn bad_sampler_stop_and_trace_options_name_their_flag() {
    let d = Dir::new();
    let (m, x, y) = d.good();
    let out = d.path("out.safetensors");
    let fails = |extra: &[&str]| refine_fails(&m, Some(&x), &y, &out, extra);
    assert_has(
        &fails(&["--mala"]),
        &["invalid option --temperature: --mala needs a temperature above 0 at every step; step 0 has none"],
    );
    assert_has(
        &fails(&["--mala", "--temperature", "1", "--clamp=-1,1"]),
        &["invalid option --clamp: cannot be used with --mala"],
    );
    assert_has(
        &fails(&["--mala", "--temperature", "1", "--clip-grad", "1"]),
        &["invalid option --clip-grad: cannot be used with --mala"],
    );
    assert_has(
        &fails(&[
            "--mala",
            "--temperature",
            "1",
            "--adapt-steps",
            "5",
            "--target-accept",
            "1.5",
        ]),
        &["invalid option --target-accept: must lie strictly between 0 and 1, got 1.5"],
    );
    assert_has(
        &fails(&["--mala", "--keep-if-lower", "--temperature", "1"]),
        &["--mala", "--keep-if-lower", "cannot be used with"],
    );
    assert_has(&fails(&["--adapt-steps", "5"]), &["--mala"]);
    assert_has(&fails(&["--target-accept", "0.5"]), &["--adapt-steps"]);
    // Without --adapt-steps the target would be ignored.
    assert_has(
        &fails(&["--mala", "--temperature", "1", "--target-accept", "0.5"]),
        &["--adapt-steps"],
    );
    assert_has(&fails(&["--shrink", "0.5"]), &["--keep-if-lower"]);
    assert_has(
        &fails(&["--keep-if-lower", "--shrink", "1.5"]),
        &["invalid option --shrink: must lie in (0, 1] (1 rejects without shrinking), got 1.5"],
    );
    assert_has(&fails(&["--rise-tolerance", "1e-6"]), &["--keep-if-lower"]);
    assert_has(
        &fails(&["--keep-if-lower", "--rise-tolerance", "-0.5"]),
        &["invalid option --rise-tolerance: must be finite and at least 0 (0 refuses any rise), got -0.5"],
    );
    assert_has(
        &fails(&["--stop-grad", "-1"]),
        &["invalid option --stop-grad: must be a number >= 0, got -1"],
    );
    assert_has(
        &fails(&["--stop-change", "nan"]),
        &["invalid option --stop-change: must be a number >= 0, got NaN"],
    );
    assert_has(
        &fails(&["--stop-below", "inf"]),
        &["invalid option --stop-below: must be a finite number, got inf"],
    );
    let txt = d.path("trace.txt");
    assert_has(
        &fails(&["--trace", txt.to_str().unwrap()]),
        &[
            "invalid option --trace",
            "trace.txt: the file name must end in .csv or .json",
        ],
    );
    assert!(!txt.exists());
    // The trace may not overwrite an input.
    let y_copy = d.path("y0.json");
    std::fs::copy(&y, &y_copy).unwrap();
    let before = std::fs::read(&y_copy).unwrap();
    assert_has(
        &refine_fails(
            &m,
            Some(&x),
            &y_copy,
            &out,
            &["--trace", y_copy.to_str().unwrap()],
        ),
        &["invalid option --trace", "y0.json is also an input"],
    );
    assert_eq!(
        std::fs::read(&y_copy).unwrap(),
        before,
        "an input was overwritten"
    );
}

/// Replica exchange, the vertex penalty and decoding: each bad setting names its flag.
#[test]
fn bad_exchange_penalty_and_decode_options_name_their_flag() {
    let d = Dir::new();
    let (m, x, y) = d.good();
    let out = d.path("out.safetensors");
    let fails = |extra: &[&str]| refine_fails(&m, Some(&x), &y, &out, extra);
    let hot = ["--temperature", "1"];
    let with = |more: &[&'static str]| [&hot[..], more].concat();
    assert_has(
        &fails(&with(&["--replicas", "1"])),
        &["invalid option --replicas: needs at least 2 replicas to swap, got 1"],
    );
    assert_has(
        &fails(&with(&["--replicas", "2"])),
        &["5 chains are not whole groups of --replicas = 2"],
    );
    assert_has(
        &fails(&with(&["--replicas", "5"])),
        &[
            "error: --x ",
            "x.npy: chains 0 and 1 are replicas of one group (--replicas = 5) but their x differ",
        ],
    );
    assert_has(
        &fails(&with(&["--replicas", "5", "--ladder", "3,2"])),
        &["invalid option --ladder: needs 0 < coldest < hottest"],
    );
    assert_has(
        &fails(&with(&["--replicas", "5", "--ladder-factors", "1,2"])),
        &["invalid option --ladder-factors: gives 2 factors for 5 replicas"],
    );
    assert_has(
        &fails(&with(&["--replicas", "5", "--swap-every", "0"])),
        &["invalid option --swap-every"],
    );
    assert_has(
        &fails(&["--replicas", "5"]),
        &["invalid option --temperature: replica exchange needs a temperature above 0 at every step"],
    );
    assert_has(
        &fails(&with(&["--replicas", "5", "--chain-offset", "3"])),
        &["invalid option --chain-offset: 3 is not a multiple of --replicas = 5"],
    );
    assert_has(
        &fails(&["--chain-offset", "4294967295"]),
        &["invalid option --chain-offset: 4294967295 plus 5 chains passes the last chain index"],
    );
    assert_has(&fails(&["--ladder", "1,4"]), &["--replicas"]);
    assert_has(&fails(&["--swap-every", "4"]), &["--replicas"]);
    assert_has(
        &fails(&["--vertex-penalty", "0,1"]),
        &["invalid option --vertex-penalty", "set --simplex too"],
    );
    assert_has(
        &fails(&["--simplex", "2", "--vertex-penalty", "0,-1"]),
        &["invalid option --vertex-penalty: weights must be numbers >= 0"],
    );
    assert_has(
        &fails(&["--simplex", "2", "--vertex-penalty", "0,1", "--keep-if-lower"]),
        &["invalid option --vertex-penalty: a weight that moves cannot be used with --keep-if-lower"],
    );
    assert_has(
        &fails(&["--vertex-penalty-schedule", "linear"]),
        &["--vertex-penalty"],
    );
    assert_has(
        &fails(&["--decode"]),
        &["invalid option --decode", "set --simplex too"],
    );
}

/// Options that would be ignored are refused, naming the flag, instead of being dropped.
#[test]
fn options_that_would_be_ignored_are_refused() {
    let d = Dir::new();
    let (m, x, y) = d.good();
    let out = d.path("out.safetensors");
    let fails = |extra: &[&str]| refine_fails(&m, Some(&x), &y, &out, extra);
    assert_has(
        &fails(&["--temperature", "1", "--temperature-end", "0.1"]),
        &["--temperature-end", "ignored by a constant schedule"],
    );
    assert_has(
        &fails(&["--step-size-end", "0.01"]),
        &["--step-size-end", "ignored by a constant schedule"],
    );
    assert_has(
        &fails(&["--stages", "3:0.1:0", "--step-size", "0.1"]),
        &["--step-size", "cannot be used with", "--stages"],
    );
    assert_has(
        &fails(&["--stages", "3:0.1:0", "--temperature", "1"]),
        &["--temperature", "cannot be used with", "--stages"],
    );
    assert_has(
        &fails(&["--stages", "3:0.1:0", "--schedule", "cosine"]),
        &["--schedule", "--stages"],
    );
    assert_has(&fails(&["--seed", "4"]), &["--seed", "no step has noise"]);
    assert_has(
        &fails(&["--dispatch-ms", "-1"]),
        &["invalid option --dispatch-ms: must be a positive number"],
    );
    // --stages needs no --step-size, and --seed is taken where there is noise.
    for extra in [
        &["--stages", "3:0.1:0"][..],
        &["--step-size", "0.1", "--temperature", "0.1", "--seed", "4"][..],
        &["--step-size", "0.1", "--dispatch-ms", "0"][..],
    ] {
        let output = refine_output(&m, &x, &y, &out, extra);
        assert!(output.status.success(), "{extra:?}: {output:?}");
    }
}
