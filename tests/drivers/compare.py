"""Compares the float32 tensors of two safetensors files written by the same ebm command on
two drivers: `compare.py EXPECTED GOT TOLERANCE` fails when a tensor's relative L2 error
passes the tolerance, or a tensor or its shape differs. Standard library only."""

import json
import math
import struct
import sys


def tensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = data[8 + n + start : 8 + n + end]
        fmt = {"F32": "f", "I32": "i"}[info["dtype"]]
        out[name] = (info["shape"], struct.unpack(f"<{len(raw) // 4}{fmt}", raw))
    return out


def main():
    expected_path, got_path, tolerance = sys.argv[1], sys.argv[2], float(sys.argv[3])
    expected, got = tensors(expected_path), tensors(got_path)
    if sorted(expected) != sorted(got):
        sys.exit(f"{got_path}: tensors {sorted(got)}, expected {sorted(expected)}")
    worst = 0.0
    for name, (shape, values) in expected.items():
        got_shape, got_values = got[name]
        if got_shape != shape:
            sys.exit(f"{got_path}: tensor {name} has shape {got_shape}, expected {shape}")
        num = sum((g - e) ** 2 for g, e in zip(got_values, values))
        den = sum(e * e for e in values)
        err = math.sqrt(num / den) if den > 0 else math.sqrt(num)
        if not err <= tolerance:
            sys.exit(f"{got_path}: tensor {name}: relative L2 error {err:.2e} > {tolerance:.0e}")
        worst = max(worst, err)
    short = lambda path: "/".join(path.split("/")[-2:])
    print(f"   {short(got_path)}: within {worst:.1e} of {short(expected_path)}")


main()
