#!/usr/bin/env python3
"""Generate (or re-check) a deterministic set of hard Sudoku puzzles.

This is the puzzle set for
    cargo run --release --example sudoku -- --puzzles benches/sudoku/hard.txt

Output: one puzzle per line, 81 characters, row by row, '0' for a blank; the
file starts with one '#' comment line giving the command, seed and rule.

"Hard" here means every puzzle
  1. has exactly one solution (checked by a complete backtracking solver);
  2. is minimal: a random full grid has clues removed in random order while the
     solution stays unique, so no remaining clue can be removed;
  3. has at most --max-clues clues (default 26; minimal puzzles land at 21-26);
  4. is NOT solved by naked + hidden singles alone (blanks remain after them).
The --check summary also reports how many survive naked + hidden pairs too.

Regenerate the shipped file (pure Python 3 standard library, deterministic):
    python3 benches/sudoku/generate_puzzles.py --seed 2026 --count 120 \
        --out benches/sudoku/hard.txt
Re-verify it:
    python3 benches/sudoku/generate_puzzles.py --check benches/sudoku/hard.txt
"""
import argparse
import random
import sys
from collections import Counter

ALL = 0x1FF  # digits 1..9 as bits 0..8
ROW = [i // 9 for i in range(81)]
COL = [i % 9 for i in range(81)]
BOX = [(i // 27) * 3 + (i % 9) // 3 for i in range(81)]
UNITS = ([[r * 9 + c for c in range(9)] for r in range(9)]
         + [[r * 9 + c for r in range(9)] for c in range(9)]
         + [[i for i in range(81) if BOX[i] == b] for b in range(9)])
PEERS = [sorted({j for u in UNITS if i in u for j in u} - {i}) for i in range(81)]
POP = [bin(m).count("1") for m in range(512)]


def bits(mask):
    """Digit indices (0..8) set in `mask`, ascending."""
    return [d for d in range(9) if mask >> d & 1]


def count_solutions(grid, limit=2, rng=None):
    """Count solutions of `grid` up to `limit` (bitmask backtracking with MRV).

    Returns (count, first solution or None). With `rng`, digits are tried in a
    random order, which turns the solver into a random full-grid generator.
    """
    g = list(grid)
    rows, cols, boxes = [0] * 9, [0] * 9, [0] * 9
    for i, v in enumerate(g):
        if v:
            b = 1 << (v - 1)
            if (rows[ROW[i]] | cols[COL[i]] | boxes[BOX[i]]) & b:
                return 0, None  # clash among the givens
            rows[ROW[i]] |= b; cols[COL[i]] |= b; boxes[BOX[i]] |= b
    empty = [i for i in range(81) if not g[i]]
    found = [0, None]

    def search():
        best, best_mask, best_n = -1, 0, 10
        for i in empty:
            if not g[i]:
                m = ALL & ~(rows[ROW[i]] | cols[COL[i]] | boxes[BOX[i]])
                if POP[m] < best_n:
                    best, best_mask, best_n = i, m, POP[m]
                    if best_n <= 1:
                        break
        if best < 0:
            found[0] += 1
            if found[1] is None:
                found[1] = list(g)
            return found[0] >= limit
        digits = bits(best_mask)
        if rng is not None:
            rng.shuffle(digits)
        r, c, x = ROW[best], COL[best], BOX[best]
        for d in digits:
            b = 1 << d
            g[best] = d + 1
            rows[r] |= b; cols[c] |= b; boxes[x] |= b
            stop = search()
            rows[r] ^= b; cols[c] ^= b; boxes[x] ^= b
            g[best] = 0
            if stop:
                return True
        return False

    search()
    return found[0], found[1]


def logic_blanks(grid, pairs=False):
    """Blanks left after naked+hidden singles (and naked+hidden pairs if asked)."""
    cand = [ALL] * 81
    g = [0] * 81

    def place(i, d):
        g[i], cand[i] = d + 1, 1 << d
        for p in PEERS[i]:
            cand[p] &= ~(1 << d)

    for i, v in enumerate(grid):
        if v:
            place(i, v - 1)
    progress = True
    while progress:
        progress = False
        for i in range(81):  # naked singles
            if not g[i] and POP[cand[i]] == 1:
                place(i, bits(cand[i])[0]); progress = True
        for u in UNITS:  # hidden singles
            for d in range(9):
                spots = [i for i in u if cand[i] >> d & 1]
                if len(spots) == 1 and not g[spots[0]]:
                    place(spots[0], d); progress = True
        if progress or not pairs:
            continue
        for u in UNITS:
            open_cells = [i for i in u if not g[i]]
            for a in open_cells:  # naked pairs
                for b in open_cells:
                    if a < b and cand[a] == cand[b] and POP[cand[a]] == 2:
                        for o in open_cells:
                            if o not in (a, b) and cand[o] & cand[a]:
                                cand[o] &= ~cand[a]; progress = True
            where = {d: [i for i in open_cells if cand[i] >> d & 1] for d in range(9)}
            for d in range(9):  # hidden pairs
                for e in range(d + 1, 9):
                    if len(where[d]) == 2 and where[d] == where[e]:
                        keep = (1 << d) | (1 << e)
                        for i in where[d]:
                            if cand[i] & ~keep:
                                cand[i] &= keep; progress = True
    return g.count(0)


def minimal_puzzle(rng):
    """A random full grid with clues dug out in random order while unique."""
    _, grid = count_solutions([0] * 81, limit=1, rng=rng)
    order = list(range(81))
    rng.shuffle(order)
    for i in order:
        keep, grid[i] = grid[i], 0
        if count_solutions(grid)[0] != 1:
            grid[i] = keep
    return grid


def generate(seed, count, max_clues):
    """`count` distinct hard puzzles; returns (puzzles, candidates tried)."""
    rng = random.Random(seed)
    puzzles, seen, tried = [], set(), 0
    while len(puzzles) < count:
        tried += 1
        p = minimal_puzzle(rng)
        text = "".join(map(str, p))
        if (81 - p.count(0) <= max_clues and text not in seen
                and logic_blanks(p) > 0):
            seen.add(text)
            puzzles.append(text)
    return puzzles, tried


def check(path):
    """Re-verify a puzzle file; print a summary, or exit 1 naming a bad line."""
    clues, with_pairs = [], 0
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue

            def bad(why):
                sys.exit(f"{path}:{n}: {why}: {line!r}")

            if len(line) != 81 or any(ch not in ".0123456789" for ch in line):
                bad("not 81 characters of 0-9 or '.'")
            grid = [0 if ch == "." else int(ch) for ch in line]
            solutions = count_solutions(grid)[0]
            if solutions != 1:
                bad("no solution" if solutions == 0 else "more than one solution")
            if logic_blanks(grid) == 0:
                bad("solved by naked and hidden singles alone")
            clues.append(81 - grid.count(0))
            with_pairs += logic_blanks(grid, pairs=True) > 0
    if not clues:
        sys.exit(f"{path}: no puzzles found")
    dist = ", ".join(f"{k}:{v}" for k, v in sorted(Counter(clues).items()))
    print(f"{path}: {len(clues)} puzzles OK, all with a unique solution")
    print(f"clues {min(clues)}-{max(clues)}, mean {sum(clues) / len(clues):.2f} "
          f"(distribution {dist})")
    print(f"need more than singles: {len(clues)}/{len(clues)}; "
          f"need more than singles+pairs: {with_pairs}/{len(clues)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--count", type=int, default=120)
    ap.add_argument("--max-clues", type=int, default=26)
    ap.add_argument("--out", help="output file (default: stdout)")
    ap.add_argument("--check", metavar="FILE", help="re-verify FILE and exit")
    args = ap.parse_args()
    if args.check:
        return check(args.check)
    puzzles, tried = generate(args.seed, args.count, args.max_clues)
    header = (f"# python3 benches/sudoku/generate_puzzles.py --seed {args.seed} "
              f"--count {args.count}" +
              (f" --max-clues {args.max_clues}" if args.max_clues != 26 else "") +
              (f" --out {args.out}" if args.out else "") +
              " | hard = unique solution, minimal (no clue removable), "
              f"<= {args.max_clues} clues, not solved by naked+hidden singles\n")
    text = header + "".join(p + "\n" for p in puzzles)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        print(f"wrote {len(puzzles)} puzzles to {args.out} "
              f"({tried} minimal candidates tried)", file=sys.stderr)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
