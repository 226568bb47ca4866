//! Sudoku by energy minimisation: `cargo run --release --example sudoku [-- --puzzles FILE]`.
//!
//! The answer y is the 729-dimensional one-hot relaxation of a grid: y[81 r + 9 c + d] is how
//! much cell (r, c) holds digit d + 1. The energy is a fixed constraint energy written as an
//! `ebm` model with no hidden layer and a `square` output: one output per (row, digit),
//! (column, digit) and (box, digit), each `sum of its 9 cells' y - 1`, so E = 0 exactly on a
//! solved grid. The centre of every cell's simplex (1/9 of each digit) has E = 0 too, so the
//! refinement adds `ebm`'s vertex penalty w (1 - |cell|^2), its weight growing from 0 while
//! the temperature anneals: chains are pushed from the centre to grids. Every cell's 9
//! coordinates are projected onto the probability simplex after each step, the clues fixed;
//! R chains per puzzle, all puzzles in one batched refinement. Each chain is then decoded
//! (each cell to its largest digit) and the model evaluated there: a chain whose decoded grid
//! has energy 0 is a solution, and best-of-R keeps the lowest decoded energy per puzzle. No
//! search and no constraint propagation: only the sampler, the energy and the decode step.
//!
//! A chain finds a solution or it does not, independently of the others, so the solver
//! restarts instead of running every chain at once: each round batches R fresh chains (a new
//! seed) for every puzzle no chain has solved yet, up to N rounds. A puzzle's budget is N R
//! chains, as in one best-of-(N R) run, but a puzzle solved in the first round costs R.
//!
//! FILE holds one puzzle per line, 81 characters, `0` or `.` for a blank (lines starting
//! with `#` and blank lines are skipped); benches/sudoku/hard.txt is the benchmark set.
//! `--chains R` (default 4), `--rounds N` (default 8) and `--steps K` (default 2000) set the
//! budget, `--kernel PATH` the kernel path (default auto).

use std::time::Instant;

use ebm::refine::{Shape, VertexPenalty};
use ebm::{
    Context, Engine, GraphBuilder, Head, Model, PathChoice, Progress, ProgressBar, RefineConfig,
    Schedule,
};

/// Standard puzzles (0 = empty), the set without --puzzles: the Wikipedia example, three from
/// Project Euler 96, and Arto Inkala's "world's hardest" one.
const PUZZLES: [&str; 5] = [
    "530070000600195000098000060800060003400803001700020006060000280000419005000080079",
    "003020600900305001001806400008102900700000008006708200002609500800203009005010300",
    "200080300060070084030500209000105408000000000402706000301007040720040060004010003",
    "000000907000420180000705026100904000050000040000507009920108000034059000507000000",
    "800000000003600000070090200050007000000045700000100030001000068008500010090000400",
];

/// How the solver runs: chains per puzzle and round, rounds, steps, and the kernel path.
struct Budget {
    chains: usize,
    rounds: u32,
    steps: u32,
    kernel: PathChoice,
}

fn index(r: usize, c: usize, d: usize) -> usize {
    81 * r + 9 * c + d
}

/// The constraint energy as an ebm model: 243 outputs f = A y - 1, E = |f|^2.
fn constraint_model() -> Model {
    let mut weight = vec![0.0f32; 243 * 729];
    for unit in 0..9 {
        for d in 0..9 {
            for k in 0..9 {
                let (row_cell, col_cell) = ((unit, k), (k, unit));
                let box_cell = (3 * (unit / 3) + k / 3, 3 * (unit % 3) + k % 3);
                for (kind, (r, c)) in [row_cell, col_cell, box_cell].into_iter().enumerate() {
                    weight[(81 * kind + 9 * unit + d) * 729 + index(r, c, d)] = 1.0;
                }
            }
        }
    }
    let mut g = GraphBuilder::new(0, 729, 0);
    let f = g.linear_with(&[g.y()], 243, weight, Some(vec![-1.0; 243]));
    g.energy(Head::SumSquares, f, 1.0);
    g.build().expect("the constraint energy is a valid graph")
}

/// A puzzle line: 81 digits or dots, checked. `at` names it in errors.
fn parse(line: &str, at: &str) -> Result<Vec<u8>, String> {
    let cells: Vec<u8> = line
        .trim()
        .bytes()
        .map(|b| match b {
            b'.' => Ok(0),
            b'0'..=b'9' => Ok(b - b'0'),
            other => Err(format!("{at}: {:?} is not a digit, 0 or .", other as char)),
        })
        .collect::<Result<_, _>>()?;
    if cells.len() != 81 {
        return Err(format!("{at}: {} cells; a puzzle has 81", cells.len()));
    }
    for i in 0..81 {
        for j in i + 1..81 {
            let (ri, ci, rj, cj) = (i / 9, i % 9, j / 9, j % 9);
            let shares = ri == rj || ci == cj || (ri / 3 == rj / 3 && ci / 3 == cj / 3);
            if shares && cells[i] != 0 && cells[i] == cells[j] {
                return Err(format!(
                    "{at}: clue {} appears twice in a unit (cells {i} and {j})",
                    cells[i]
                ));
            }
        }
    }
    Ok(cells)
}

/// The puzzles of `path`, or the built-in set.
fn puzzles(path: Option<&str>) -> Result<Vec<(String, Vec<u8>)>, String> {
    let Some(path) = path else {
        return PUZZLES
            .iter()
            .enumerate()
            .map(|(i, p)| Ok((format!("built-in {}", i + 1), parse(p, "built-in")?)))
            .collect();
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{path}:{}", i + 1);
        out.push((at.clone(), parse(line, &at)?));
    }
    if out.is_empty() {
        return Err(format!("{path}: no puzzles in it"));
    }
    Ok(out)
}

/// Whether `grid` is a full valid Sudoku that keeps the clues of `puzzle`.
fn solved(grid: &[u8], puzzle: &[u8]) -> bool {
    let keeps = puzzle.iter().zip(grid).all(|(&p, &g)| p == 0 || p == g);
    let unit_ok = |cells: [(usize, usize); 9]| {
        let mut seen = [false; 10];
        cells.iter().all(|&(r, c)| {
            let d = grid[9 * r + c] as usize;
            d > 0 && !std::mem::replace(&mut seen[d], true)
        })
    };
    keeps
        && (0..9).all(|u| {
            unit_ok(std::array::from_fn(|k| (u, k)))
                && unit_ok(std::array::from_fn(|k| (k, u)))
                && unit_ok(std::array::from_fn(|k| {
                    (3 * (u / 3) + k / 3, 3 * (u % 3) + k % 3)
                }))
        })
}

/// The digit of each cell of a decoded (one-hot) y.
fn digits(y: &[f32]) -> Vec<u8> {
    y.chunks(9)
        .map(|cell| {
            cell.iter()
                .position(|&v| v == 1.0)
                .map_or(0, |d| d as u8 + 1)
        })
        .collect()
}

/// Cells whose digit appears again in their row, column or box.
fn clashing_cells(grid: &[u8]) -> usize {
    (0..81)
        .filter(|&i| {
            (0..81).any(|j| {
                let (ri, ci, rj, cj) = (i / 9, i % 9, j / 9, j % 9);
                let shares = ri == rj || ci == cj || (ri / 3 == rj / 3 && ci / 3 == cj / 3);
                i != j && shares && grid[i] == grid[j]
            })
        })
        .count()
}

fn print_grid(grid: &[u8]) {
    for r in 0..9 {
        let row: Vec<String> = (0..9).map(|c| grid[9 * r + c].to_string()).collect();
        println!(
            "    {} {} {} | {} {} {} | {} {} {}",
            row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8]
        );
        if r == 2 || r == 5 {
            println!("    ------+-------+------");
        }
    }
}

/// The flags: `--puzzles FILE`, `--chains R`, `--rounds N`, `--steps K`, `--kernel PATH`
/// (auto, chain, layered, tile...: as `ebm refine --kernel`).
fn flags() -> Result<(Option<String>, Budget), String> {
    let mut args = std::env::args().skip(1);
    let (mut file, mut budget) = (
        None,
        Budget {
            chains: 4,
            rounds: 8,
            steps: 2000,
            kernel: PathChoice::Auto,
        },
    );
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| {
            v.parse::<u32>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{flag}: {v:?} is not a whole number above 0"))
        };
        match flag.as_str() {
            "--puzzles" => file = Some(value),
            "--chains" => budget.chains = number(&value)? as usize,
            "--rounds" => budget.rounds = number(&value)?,
            "--steps" => budget.steps = number(&value)?,
            "--kernel" => budget.kernel = value.parse().map_err(|e| format!("--kernel: {e}"))?,
            other => {
                return Err(format!(
                    "unknown flag {other}; expected --puzzles FILE, --chains R, --rounds N, --steps K, --kernel PATH"
                ))
            }
        }
    }
    Ok((file, budget))
}

fn main() {
    env_logger::init();
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

/// What the rounds found for one puzzle: the best decoded grid so far and how it was found.
struct Outcome {
    /// The decoded grid with the lowest decoded energy over every chain tried.
    grid: Vec<u8>,
    /// Its decoded energy (0: a solution).
    energy: f32,
    /// The round it came from (1-based).
    round: u32,
    chains_tried: usize,
    chains_solving: usize,
}

/// Starting points and fixed flags for `r` chains of each puzzle: clue cells one-hot and
/// fixed, blank cells near the centre of their simplex.
fn starts(puzzles: &[&[u8]], r: usize, rng: &mut ebm::rng::HostRng) -> (Vec<f32>, Vec<bool>) {
    let mut y0 = Vec::with_capacity(puzzles.len() * r * 729);
    let mut fixed = Vec::with_capacity(puzzles.len() * r * 729);
    for puzzle in puzzles {
        for _ in 0..r {
            for &clue in puzzle.iter() {
                for d in 0..9u8 {
                    let v = match clue {
                        0 => 1.0 / 9.0 + 0.01 * rng.symmetric() as f32,
                        c => f32::from(u8::from(c == d + 1)),
                    };
                    y0.push(v);
                    fixed.push(clue != 0);
                }
            }
        }
    }
    (y0, fixed)
}

/// The refinement of one round: annealed Langevin with the growing vertex penalty, then
/// decoding; each round draws its noise from its own seed.
fn round_config(steps: u32, round: u32) -> RefineConfig {
    RefineConfig {
        steps,
        step_size: 0.04,
        temperature: 0.02,
        schedule: Schedule {
            shape: Shape::Geometric,
            temperature_end: Some(1e-4),
            ..Default::default()
        },
        simplex: Some(9),
        vertex_penalty: Some(VertexPenalty {
            start: 0.0,
            end: 0.2,
            shape: Shape::Linear,
        }),
        decode: true,
        seed: 2026 + u64::from(round),
        ..Default::default()
    }
}

fn run() -> Result<(), String> {
    let (file, budget) = flags()?;
    let puzzles = puzzles(file.as_deref())?;
    let ctx = Context::new().map_err(|e| e.to_string())?;
    let model = constraint_model();
    let engine = Engine::with_path(&ctx, &model, budget.kernel).map_err(|e| e.to_string())?;
    let (r, m) = (budget.chains, puzzles.len());
    println!(
        "Sudoku as an energy: 729 one-hot coordinates, 243 constraints, E = 0 on a solution.\n\
         {m} puzzles; each round runs {r} fresh chains per unsolved puzzle in one refinement \
         ({} steps of annealed Langevin with a growing vertex penalty, each chain decoded to \
         a grid), at most {} rounds, on {} ({} path for the first).\n",
        budget.steps,
        budget.rounds,
        ctx.adapter_info().name,
        engine.path_for(m * r).map_err(|e| e.to_string())?
    );
    let mut rng = ebm::rng::HostRng::new(7, 7);
    let mut outcomes: Vec<Option<Outcome>> = (0..m).map(|_| None).collect();
    let start = Instant::now();
    for round in 1..=budget.rounds {
        let open: Vec<usize> = (0..m)
            .filter(|&i| outcomes[i].as_ref().is_none_or(|o| o.energy != 0.0))
            .collect();
        if open.is_empty() {
            break;
        }
        let grids: Vec<&[u8]> = open.iter().map(|&i| puzzles[i].1.as_slice()).collect();
        let (y0, fixed) = starts(&grids, r, &mut rng);
        let title = format!(
            "  round {round} of {}: {} puzzles x {r} chains",
            budget.rounds,
            open.len()
        );
        // The library's bar, as the command line draws it: on a terminal only, so that
        // stderr sent to a file holds one line per round.
        let mut bar = ProgressBar::new(false).titled(title.as_str());
        let mut progress = |p: &Progress| {
            bar.show(p);
            std::ops::ControlFlow::Continue(())
        };
        let config = round_config(budget.steps, round);
        let best = engine
            .refine_best_of_with(&[], &y0, r, Some(&fixed), &config, Some(&mut progress))
            .map_err(|e| e.to_string())?;
        bar.finish();
        let decoded = best.all.decoded.as_ref().ok_or("no decoded answers")?;
        eprintln!("{title}, done at {:.1} s", start.elapsed().as_secs_f64());
        for (k, &i) in open.iter().enumerate() {
            let solving = decoded.energy[k * r..(k + 1) * r]
                .iter()
                .filter(|&&e| e == 0.0)
                .count();
            let this = Outcome {
                grid: digits(&best.y[k * 729..(k + 1) * 729]),
                energy: best.energy[k],
                round,
                chains_tried: r,
                chains_solving: solving,
            };
            outcomes[i] = Some(match outcomes[i].take() {
                None => this,
                Some(old) => {
                    let (tried, solving) = (old.chains_tried + r, old.chains_solving + solving);
                    let mut kept = if this.energy < old.energy { this } else { old };
                    (kept.chains_tried, kept.chains_solving) = (tried, solving);
                    kept
                }
            });
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut solved_count = 0;
    let mut clashes = Vec::new();
    let mut chains_run = 0;
    for ((name, puzzle), outcome) in puzzles.iter().zip(&outcomes) {
        let o = outcome.as_ref().ok_or("a puzzle was never refined")?;
        let ok = o.energy == 0.0 && solved(&o.grid, puzzle);
        chains_run += o.chains_tried;
        let clues = puzzle.iter().filter(|&&p| p > 0).count();
        println!(
            "{name}: {clues} clues, {}; decoded energy {} (round {}); {} of {} chains decode to a solution",
            if ok { "SOLVED, valid" } else { "not solved" },
            o.energy,
            o.round,
            o.chains_solving,
            o.chains_tried
        );
        print_grid(&o.grid);
        if ok {
            solved_count += 1;
        } else {
            let c = clashing_cells(&o.grid);
            println!("    ({c} of 81 cells clash with another in their row, column or box)");
            clashes.push(c);
        }
        println!();
    }
    if !clashes.is_empty() {
        println!("Unsolved puzzles: clashing cells in the best decoded grid {clashes:?}");
    }
    println!(
        "solved {solved_count} of {m}, {:.1} ms per puzzle on average ({seconds:.2} s for {m} puzzles, \
         {chains_run} chains of {} steps in all, at most {} rounds of {r} chains per puzzle)",
        1e3 * seconds / m as f64,
        budget.steps,
        budget.rounds
    );
    Ok(())
}
