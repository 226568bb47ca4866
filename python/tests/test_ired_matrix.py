"""The IRED matrix-inverse example (examples/ired_matrix) in a reduced form: IRED's energy
trained for a few seconds with IRED's recipe, then IRED's inference in PyTorch and in ebm
(one staged refinement) on the same held-out matrices. ebm must reproduce PyTorch's
inference: the same MSE within 1%; with every step taken, each sample within 1e-4; with
IRED's rejections, each sample as close to the float64 inference as PyTorch's own float32
run is (or within 1e-3): a step whose energy change float32 does not resolve is kept by one
and refused by the other. With a rise tolerance, ebm refuses only what float32 resolves,
and reproduces the float64 inference, each sample within 1e-4."""

from __future__ import annotations

from _helpers import ired_example


def test_ebm_reproduces_ireds_inference(tmp_path):
    example = ired_example()
    args = ["--steps", "40", "--batch", "64", "--hidden", "32", "--embed", "16", "--test", "64"]
    result = example.main(args + ["--out", str(tmp_path / "run")])
    assert abs(result["mse_ratio_ebm_to_pytorch"] - 1) < 0.01, result
    assert result["median_relative_difference_per_sample"] < 1e-4, result
    # With no energy compared, what is left is arithmetic: float32's.
    assert result["every_step_taken"]["max_relative_difference_per_sample"] < 1e-4, result
    exact = result["float64"]
    bound = max(1e-3, 2 * exact["max_relative_difference_pytorch_float32"])
    assert exact["max_relative_difference_ebm"] <= bound, result
    tolerant = result["rise_tolerance"]
    assert tolerant["max_relative_difference_per_sample_to_float64"] < 1e-4, result
    assert abs(tolerant["mse_ratio_to_float64"] - 1) < 1e-4, result
    # The refinement did something: IRED's answers are not the feed-forward ones.
    assert result["mse_pytorch"] != result["mse_feed_forward"]
    # A run compared again from its folder gives the same numbers.
    again = example.main(["--load", str(tmp_path / "run")])
    assert again["mse_ebm"] == result["mse_ebm"]
    assert again["mse_pytorch"] == result["mse_pytorch"]
