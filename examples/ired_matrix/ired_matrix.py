"""IRED's matrix inverse, end to end: train IRED's energy in PyTorch with IRED's recipe, then
run IRED's inference (its landscapes, each a denoising step and `opt_step`'s keep-if-lower
descent) in PyTorch and in ebm on the same held-out matrices, beside the feed-forward
baseline, timed side by side.

    python examples/ired_matrix/ired_matrix.py                 # train (about 2 CPU minutes), compare
    python examples/ired_matrix/ired_matrix.py --load out/ired_matrix   # compare a trained run again

What is followed, from Du et al., "Learning Iterative Reasoning through Energy Diffusion"
(ICML 2024), code release github.com/yilundu/ired_code_release at 3d74b85:
- dataset.py, class Inverse: x = R + R^T + 0.5 I, R = A A^T, A uniform in [-1, 1]^(n x n),
  and y = x^-1, both flattened.
- models.py, class EBM (is_ebm=True): a sinusoidal embedding of t through Linear, GELU,
  Linear; fc1 over concat(x, y); fc2 and fc3 modulated by FiLM, h * (gain + 1) + bias,
  from t_map_fc2 / t_map_fc3 of the embedding; swish throughout; E = |fc4(h)|^2.
  SinusoidalPosEmb is written as a Linear holding its frequencies (not trained) followed by
  sin and cos: the same function of t, in a form torch.fx traces.
- diffusion_lib/denoising_diffusion_pytorch_1d.py: cosine_beta_schedule, the buffers of
  GaussianDiffusion1D (float32), q_sample, p_losses (objective pred_noise,
  supervise_energy_landscape, continuous: the energy's gradient is the predicted noise,
  plus 0.5 x the contrastive loss between a noised answer and one refined by opt_step from
  three times the noise), opt_step, p_sample and p_sample_loop (use_innerloop_opt, 5
  opt_step steps per landscape, continuous: clamps at 2 sqrt(alpha_bar)); Trainer1D's Adam
  (betas 0.9, 0.99), gradient-norm clip 1 and the EMA of the weights (decay 0.995, every
  10 steps, after 100) that inference uses.
- The feed-forward baseline is the same network with is_ebm=False (fc4's outputs are the
  answer), one landscape (t = 0) and no refinement, trained by mean squared error.

Scaled down to fit a few CPU minutes (recorded in settings.json): matrices 4 x 4 instead
of 20 x 20, hidden width 128 instead of 512, embeddings 32 instead of 128, batch 256
instead of 2048, 3000 steps instead of 1,300,000, learning rate 1e-3 instead of 1e-4, and
the EMA without ema_pytorch's warm-up schedule.

How ebm runs IRED's inference: in each landscape t (10 to 1), IRED's state is
img = sqrt(alpha_bar_t) u; between landscapes it rescales img so that u carries over. ebm
refines u itself, with the energy E(x, sqrt(alpha_bar_t) u, t) (the scale picked by hat
functions of t, exact at the integer landscapes): then IRED's steps are plain gradient steps
on u, of sizes sqrt(1 - alpha_bar_t) / alpha_bar_t (the denoising step, always taken) and
opt_step_size_t / alpha_bar_t, twice that after the first (opt_step's, kept only where
they do not raise the energy, without shrinking), and every clamp is +-2. Each landscape is
three stages, thirty in all, every step on the GPU in one call.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import pathlib
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

IRED_COMMIT = "3d74b85fab7fcf5e28aaf15e9ed3bf51c1a1d545"
CLAMP = 2.0  # continuous tasks: sf = 2
# ebm's keep-if-lower refuses a step only where the energy rises by more than this fraction
# of it (`rise_tolerance`). IRED's energies sit far from 0 (5 to 93 in the committed run)
# and many of its steps change them by less than float32 resolves (6e-8 |E| per rounding,
# more through a network): float32 runs, PyTorch's and ebm's alike, refuse such steps by
# rounding where float64 keeps them (in the committed run, steps lowering E by up to
# 3.9e-7 |E|). 1e-6 leaves a margin over that, and still refuses any larger rise.
RISE_TOLERANCE = 1e-6


# ---------------------------------------------------------------------------------------
# dataset.py, class Inverse
# ---------------------------------------------------------------------------------------


def inverse_problems(n: int, rank: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n matrices x and their inverses y, flattened, float32."""
    a = rng.uniform(-1, 1, (n, rank, rank))
    r = a @ a.transpose(0, 2, 1)
    x = r + r.transpose(0, 2, 1) + 0.5 * np.eye(rank)
    y = np.linalg.inv(x)
    return x.reshape(n, -1).astype(np.float32), y.reshape(n, -1).astype(np.float32)


# ---------------------------------------------------------------------------------------
# models.py, class EBM
# ---------------------------------------------------------------------------------------


class SinusoidalPosEmb(nn.Module):
    """IRED's SinusoidalPosEmb(dim) of t [B, 1]: a Linear holding the frequencies
    exp(-log(10000) k / (dim/2 - 1)), not trained, then sin and cos."""

    def __init__(self, dim: int):
        super().__init__()
        half = dim // 2
        self.freqs = nn.Linear(1, half, bias=False)
        with torch.no_grad():
            scale = math.log(10000) / (half - 1)
            self.freqs.weight.copy_(torch.exp(torch.arange(half) * -scale)[:, None])
        self.freqs.weight.requires_grad_(False)

    def forward(self, t):
        emb = self.freqs(t)
        return torch.cat((emb.sin(), emb.cos()), dim=-1)


def swish(x):
    return x * torch.sigmoid(x)


class EBM(nn.Module):
    def __init__(self, inp_dim, out_dim, h=128, fourier_dim=32, time_dim=32, is_ebm=True):
        super().__init__()
        self.time_mlp = nn.Sequential(
            SinusoidalPosEmb(fourier_dim),
            nn.Linear(fourier_dim, time_dim),
            nn.GELU(),
            nn.Linear(time_dim, time_dim),
        )
        self.fc1 = nn.Linear(inp_dim + out_dim, h)
        self.is_ebm = is_ebm
        self.fc2 = nn.Linear(h, h)
        self.fc3 = nn.Linear(h, h)
        self.fc4 = nn.Linear(h, out_dim)
        self.t_map_fc2 = nn.Linear(time_dim, 2 * h)
        self.t_map_fc3 = nn.Linear(time_dim, 2 * h)
        self.inp_dim, self.out_dim = inp_dim, out_dim

    def forward(self, x, y, t):
        """E(x, y, t) [B] (is_ebm), else the answer [B, out_dim]; t is [B, 1]."""
        x = torch.cat([x, y], dim=-1)
        t_emb = self.time_mlp(t)
        fc2_gain, fc2_bias = torch.chunk(self.t_map_fc2(t_emb), 2, dim=-1)
        fc3_gain, fc3_bias = torch.chunk(self.t_map_fc3(t_emb), 2, dim=-1)
        h = swish(self.fc1(x))
        h = swish(self.fc2(h) * (fc2_gain + 1) + fc2_bias)
        h = swish(self.fc3(h) * (fc3_gain + 1) + fc3_bias)
        if self.is_ebm:
            return self.fc4(h).pow(2).sum(dim=-1)
        return self.fc4(h)


# ---------------------------------------------------------------------------------------
# diffusion_lib/denoising_diffusion_pytorch_1d.py
# ---------------------------------------------------------------------------------------


def cosine_beta_schedule(timesteps, s=0.008):
    steps = timesteps + 1
    x = torch.linspace(0, timesteps, steps, dtype=torch.float64)
    alphas_cumprod = torch.cos(((x / timesteps) + s) / (1 + s) * math.pi * 0.5) ** 2
    alphas_cumprod = alphas_cumprod / alphas_cumprod[0]
    betas = 1 - (alphas_cumprod[1:] / alphas_cumprod[:-1])
    return torch.clip(betas, 0, 0.999)


class Diffusion:
    """GaussianDiffusion1D's buffers (registered as float32) for `timesteps` landscapes."""

    def __init__(self, timesteps=10):
        betas = cosine_beta_schedule(timesteps)
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        f32 = lambda v: v.to(torch.float32)  # noqa: E731
        self.num_timesteps = timesteps
        self.alphas_cumprod = f32(alphas_cumprod)
        self.sqrt_alphas_cumprod = f32(torch.sqrt(alphas_cumprod))
        self.sqrt_one_minus_alphas_cumprod = f32(torch.sqrt(1.0 - alphas_cumprod))
        self.sqrt_recip_alphas_cumprod = f32(torch.sqrt(1.0 / alphas_cumprod))
        self.sqrt_recipm1_alphas_cumprod = f32(torch.sqrt(1.0 / alphas_cumprod - 1))
        self.opt_step_size = f32(betas * torch.sqrt(1 / (1 - alphas_cumprod)))


def extract(a, t):
    return a.gather(-1, t)[:, None]


def as_input(t, dtype=torch.float32):
    """Landscape indices [B] (long) as the model's t [B, 1]."""
    return t.to(dtype)[:, None]


def energy_and_grad(model, inp, img, t, create_graph=False):
    """DiffusionWrapper: E and dE/dimg."""
    with torch.enable_grad():
        if not img.requires_grad:
            img = img.detach().requires_grad_(True)
        energy = model(inp, img, as_input(t, img.dtype))
        (grad,) = torch.autograd.grad([energy.sum()], [img], create_graph=create_graph)
    return energy, grad


def q_sample(d: Diffusion, x_start, t, noise):
    return extract(d.sqrt_alphas_cumprod, t) * x_start + extract(
        d.sqrt_one_minus_alphas_cumprod, t
    ) * noise


def opt_step(model, d: Diffusion, inp, img, t, step=5, sf=1.0, reject=True, refused=None):
    """GaussianDiffusion1D.opt_step (no mask, eval=True, continuous); `reject=False` takes
    every step (a control, not IRED's); `refused`, a list, gets the number of steps refused."""
    for _ in range(step):
        energy, grad = energy_and_grad(model, inp, img, t)
        img_new = img - extract(d.opt_step_size, t) * grad * sf
        sf = 2.0  # continuous
        max_val = extract(d.sqrt_alphas_cumprod, t)[0, 0] * sf
        img_new = torch.clamp(img_new, -max_val, max_val)
        with torch.no_grad():
            energy_new = model(inp, img_new, as_input(t, img.dtype))
        bad_step = (energy_new > energy) & reject
        if refused is not None:
            refused.append(int(bad_step.sum()))
        img_new = img_new.detach().clone()
        img_new[bad_step] = img.detach()[bad_step]
        img = img_new.detach()
    return img


def p_losses(model, d: Diffusion, inp, x_start, t):
    """GaussianDiffusion1D.p_losses: pred_noise, supervise_energy_landscape, continuous."""
    noise = torch.randn_like(x_start)
    x = q_sample(d, x_start, t, noise)
    _, model_out = energy_and_grad(model, inp, x.requires_grad_(True), t, create_graph=True)
    loss_mse = F.mse_loss(model_out, noise, reduction="none").mean(dim=-1)
    noise = torch.randn_like(x_start)
    data_sample = q_sample(d, x_start, t, noise)
    xmin_noise = q_sample(d, x_start, t, 3.0 * noise)
    xmin_noise = opt_step(model, d, inp, xmin_noise, t, step=2, sf=1.0)
    xmin_noise_rescale = torch.clamp(extract(d.sqrt_recip_alphas_cumprod, t) * xmin_noise, -2, 2)
    xmin_noise = q_sample(d, xmin_noise_rescale, t, noise)
    energy = model(
        torch.cat([inp, inp]), torch.cat([data_sample, xmin_noise]), as_input(torch.cat([t, t]))
    )
    energy_real, energy_fake = torch.chunk(energy, 2, 0)
    energy_stack = torch.stack([energy_real, energy_fake], dim=-1)
    target = torch.zeros(energy_real.size(0), dtype=torch.long)
    loss_energy = F.cross_entropy(-1 * energy_stack, target, reduction="none")
    return (loss_mse + 0.5 * loss_energy).mean()


def p_sample_loop(model, d: Diffusion, inp, img, reject=True, refused=None):
    """GaussianDiffusion1D.p_sample_loop from `img` (IRED draws it from N(0, I)): in each
    landscape, p_sample (the denoising step), opt_step, the clamp, the rescale. `refused`:
    as opt_step's."""
    for t in reversed(range(d.num_timesteps)):
        bt = torch.full((img.shape[0],), t, dtype=torch.long)
        # p_sample -> p_mean_variance -> model_predictions (pred_noise), clip_denoised.
        _, pred_noise = energy_and_grad(model, inp, img, bt)
        x_start = (
            extract(d.sqrt_recip_alphas_cumprod, bt) * img
            - extract(d.sqrt_recipm1_alphas_cumprod, bt) * pred_noise
        )
        x_start = x_start.clamp(-CLAMP, CLAMP)
        img = (extract(d.sqrt_alphas_cumprod, bt) * x_start).detach()
        img = opt_step(model, d, inp, img, bt, step=5, sf=1.0, reject=reject, refused=refused)
        max_val = extract(d.sqrt_alphas_cumprod, bt)[0, 0] * CLAMP
        img = torch.clamp(img, -max_val, max_val)
        img_unscaled = extract(d.sqrt_recip_alphas_cumprod, bt) * img
        if t != 0:
            img = extract(d.sqrt_alphas_cumprod, bt - 1) * img_unscaled
    return img


# ---------------------------------------------------------------------------------------
# Training (Trainer1D)
# ---------------------------------------------------------------------------------------


def train(model, loss_of, steps, batch, lr, rank, rng, log_every=500):
    """Adam (betas 0.9, 0.99), clip 1, EMA (0.995 every 10 steps after 100); returns the EMA."""
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.99))
    for step in range(1, steps + 1):
        x, y = (torch.from_numpy(a) for a in inverse_problems(batch, rank, rng))
        loss = loss_of(x, y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 10 == 0:
            decay = 0.0 if step <= 100 else 0.995
            with torch.no_grad():
                for k, v in model.state_dict().items():
                    ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
        if step % log_every == 0 or step == steps:
            print(f"  step {step}/{steps}: loss {loss.item():.4f}", flush=True)
    model.load_state_dict(ema)
    return model


# ---------------------------------------------------------------------------------------
# ebm: IRED's inference as stages of one refinement
# ---------------------------------------------------------------------------------------


class ScaledEnergy(nn.Module):
    """E(x, sqrt(alpha_bar_t) u, t): IRED's energy of its scaled state, as a function of
    the state u that carries over between landscapes. sqrt(alpha_bar_t) is picked by hat
    functions relu(1 - |t - l|) of t, exact at the integer landscapes."""

    def __init__(self, ebm: EBM, sqrt_alphas_cumprod: torch.Tensor):
        super().__init__()
        levels = len(sqrt_alphas_cumprod)
        self.ebm = ebm
        self.sides = nn.Linear(1, 2 * levels)
        self.fold = nn.Linear(2 * levels, levels)
        self.scale = nn.Linear(levels, ebm.out_dim, bias=False)
        with torch.no_grad():
            self.sides.weight.copy_(torch.tensor([[1.0], [-1.0]] * levels))
            self.sides.bias.copy_(torch.tensor([v for l in range(levels) for v in (-l, l)], dtype=torch.float32))
            fold = torch.zeros(levels, 2 * levels)
            for l in range(levels):
                fold[l, 2 * l] = fold[l, 2 * l + 1] = -1.0
            self.fold.weight.copy_(fold)
            self.fold.bias.fill_(1.0)
            self.scale.weight.copy_(sqrt_alphas_cumprod[None, :].expand(ebm.out_dim, levels))

    def forward(self, x, u, t):
        hat = F.relu(self.fold(F.relu(self.sides(t))))
        return self.ebm(x, u * self.scale(hat), t)


def stages(d: Diffusion, reject=True) -> list:
    """IRED's inference as `ebm_wgpu.Stage`s: per landscape t (from the last), the denoising
    step (taken whatever it does to the energy), then opt_step's first step and its other
    four (twice the size), kept only where they lower the energy (`reject=False`: taken
    too). Temperature 0 throughout."""
    from ebm_wgpu import Stage

    out = []
    for t in reversed(range(d.num_timesteps)):
        ac = float(d.alphas_cumprod[t])
        denoise = float(d.sqrt_one_minus_alphas_cumprod[t]) / ac
        opt = float(d.opt_step_size[t]) / ac
        out += [
            Stage(1, denoise, landscape=t, take_every_step=True),
            Stage(1, opt, landscape=t, take_every_step=not reject),
            Stage(4, 2 * opt, landscape=t, take_every_step=not reject),
        ]
    return out


def ebm_inference(engine, d: Diffusion, x: np.ndarray, img0: np.ndarray, reject=True, rise_tolerance=0.0):
    """IRED's p_sample_loop from img0 on ebm: one refinement of u = img / sqrt(alpha_bar).
    `rise_tolerance`: keep-if-lower refuses only rises beyond it (times |E|); 0 is IRED's rule."""
    u0 = img0 / float(d.sqrt_alphas_cumprod[-1])
    out = engine.refine(
        x,
        u0.astype(np.float32),
        steps=6 * d.num_timesteps,
        stages=stages(d, reject),
        keep_if_lower=True,
        shrink=1.0,
        rise_tolerance=rise_tolerance,
        clamp=(-CLAMP, CLAMP),
        dispatch_ms=0,
    )
    refused = int((out.steps_taken - out.accepted).sum())
    return out.y * float(d.sqrt_alphas_cumprod[0]), refused


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rank", type=int, default=4, help="matrices are RANK x RANK (IRED: 20)")
    p.add_argument("--steps", type=int, default=3000, help="training steps (IRED: 1.3M)")
    p.add_argument("--batch", type=int, default=256, help="training batch (IRED: 2048)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (IRED: 1e-4)")
    p.add_argument("--hidden", type=int, default=128, help="hidden width (IRED: 512)")
    p.add_argument("--embed", type=int, default=32, help="time embedding width (IRED: 128)")
    p.add_argument("--test", type=int, default=1024, help="held-out matrices")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="PyTorch CPU threads (0: its default)")
    p.add_argument("--device", default="cpu", help="PyTorch's device for the timed inference")
    p.add_argument(
        "--out", type=pathlib.Path, help="where results go (default: out/ired_matrix, or --load's folder)"
    )
    p.add_argument("--load", type=pathlib.Path, help="a folder a run wrote: compare only")
    args = p.parse_args(argv)
    import ebm_wgpu

    out_dir = args.out or args.load or pathlib.Path("out/ired_matrix")
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    d = Diffusion(10)
    if args.load:
        settings = json.loads((args.load / "settings.json").read_text())
        for k in ("rank", "hidden", "embed", "seed", "test"):
            setattr(args, k, settings[k])
    dim = args.rank * args.rank
    torch.manual_seed(args.seed)
    energy = EBM(dim, dim, args.hidden, args.embed, args.embed)
    forward = EBM(dim, dim, args.hidden, args.embed, args.embed, is_ebm=False)
    if args.load:
        energy.load_state_dict(torch.load(args.load / "energy.pt", map_location="cpu"))
        forward.load_state_dict(torch.load(args.load / "feed_forward.pt", map_location="cpu"))
    else:
        settings = {k: getattr(args, k) for k in ("rank", "steps", "batch", "lr", "hidden", "embed", "test", "seed")}
        settings["ired_commit"] = IRED_COMMIT
        settings["landscapes"] = d.num_timesteps
        (out_dir / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
        rng = np.random.default_rng(args.seed)
        t0 = time.perf_counter()
        print(f"training IRED's energy ({args.steps} steps, batch {args.batch}):", flush=True)
        train(
            energy,
            lambda x, y: p_losses(
                energy, d, x, y, torch.randint(0, d.num_timesteps, (x.shape[0],))
            ),
            args.steps, args.batch, args.lr, args.rank, rng,
        )
        zero = torch.zeros(args.batch, 1)
        print("training the feed-forward baseline:", flush=True)
        train(
            forward,
            lambda x, y: F.mse_loss(forward(x, torch.zeros_like(y), zero), y),
            args.steps, args.batch, args.lr, args.rank, rng,
        )
        print(f"trained in {time.perf_counter() - t0:.0f} s", flush=True)
        torch.save(energy.state_dict(), out_dir / "energy.pt")
        torch.save(forward.state_dict(), out_dir / "feed_forward.pt")
    energy.eval()
    test_rng = np.random.default_rng(args.seed + 1)
    x, y = inverse_problems(args.test, args.rank, test_rng)
    img0 = test_rng.standard_normal(y.shape).astype(np.float32)

    # PyTorch: IRED's inference, timed (after one warm-up run).
    dev = torch.device(args.device)
    model_dev = energy.to(dev)
    xt, img0t = torch.from_numpy(x).to(dev), torch.from_numpy(img0).to(dev)
    p_sample_loop(model_dev, _on(d, dev), xt[:8], img0t[:8])
    _sync(dev)
    t0 = time.perf_counter()
    torch_y = p_sample_loop(model_dev, _on(d, dev), xt, img0t)
    _sync(dev)
    torch_seconds = time.perf_counter() - t0
    torch_y = torch_y.detach().cpu().numpy()
    # The steps it refuses, counted in a run of its own (outside the timed one), there.
    refused32 = []
    p_sample_loop(model_dev, _on(d, dev), xt, img0t, refused=refused32)
    energy.to("cpu")
    # The same inference in float64: how far float32 itself lands from it, and its refusals.
    refused64 = []
    exact_y = p_sample_loop(
        copy.deepcopy(energy).double(),
        _on(d, "cpu", torch.float64),
        torch.from_numpy(x).double(),
        torch.from_numpy(img0).double(),
        refused=refused64,
    ).detach().numpy()

    # ebm: the same inference as one staged refinement, timed the same way.
    model = ebm_wgpu.Model.from_torch(ScaledEnergy(energy, d.sqrt_alphas_cumprod), dim, dim)
    context = ebm_wgpu.Context()
    engine = ebm_wgpu.Engine(model, context)
    ebm_inference(engine, d, x[:8], img0[:8])
    t0 = time.perf_counter()
    ebm_y, ebm_refused = ebm_inference(engine, d, x, img0)
    ebm_seconds = time.perf_counter() - t0
    # With a rise tolerance, ebm refuses only rises float32 resolves: against the float64
    # run, which resolves every step.
    tolerant_y, tolerant_refused = ebm_inference(engine, d, x, img0, rise_tolerance=RISE_TOLERANCE)

    # A control: both with every step taken, no energy compared. What differs then is
    # arithmetic alone; what differs more with IRED's rejections is steps whose energy
    # change float32 does not resolve, kept by one and refused by the other.
    taken_torch = p_sample_loop(energy, d, torch.from_numpy(x), torch.from_numpy(img0), reject=False)
    taken_ebm, _ = ebm_inference(engine, d, x, img0, reject=False)

    with torch.no_grad():
        ff_y = forward(torch.from_numpy(x), torch.zeros(y.shape), torch.zeros(len(x), 1)).numpy()
    mse = lambda a: float(np.mean((a - y) ** 2))  # noqa: E731
    apart = lambda a, b: np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)  # noqa: E731
    per_sample = apart(ebm_y, torch_y)
    tolerant = apart(tolerant_y, exact_y)
    result = {
        "settings": settings,
        "matrices": args.test,
        "mse_pytorch": mse(torch_y),
        "mse_pytorch_float64": mse(exact_y),
        "mse_ebm": mse(ebm_y),
        "mse_feed_forward": mse(ff_y),
        "mse_ratio_ebm_to_pytorch": mse(ebm_y) / mse(torch_y),
        "max_relative_difference_per_sample": float(per_sample.max()),
        "samples_over_1e-3": int((per_sample > 1e-3).sum()),
        "median_relative_difference_per_sample": float(np.median(per_sample)),
        "every_step_taken": {
            "max_relative_difference_per_sample": float(
                apart(taken_ebm, taken_torch.detach().numpy()).max()
            ),
        },
        "float64": {
            "max_relative_difference_ebm": float(apart(ebm_y, exact_y).max()),
            "max_relative_difference_pytorch_float32": float(apart(torch_y, exact_y).max()),
            "samples_over_1e-3_ebm": int((apart(ebm_y, exact_y) > 1e-3).sum()),
            "samples_over_1e-3_pytorch_float32": int((apart(torch_y, exact_y) > 1e-3).sum()),
        },
        "steps_compared": len(refused64) * args.test,
        "steps_refused": {
            "pytorch_float32": sum(refused32),
            "pytorch_float64": sum(refused64),
            "ebm": ebm_refused,
            "ebm_rise_tolerance": tolerant_refused,
        },
        "rise_tolerance": {
            "value": RISE_TOLERANCE,
            "max_relative_difference_per_sample_to_float64": float(tolerant.max()),
            "samples_over_1e-3_to_float64": int((tolerant > 1e-3).sum()),
            "mse_ratio_to_float64": mse(tolerant_y) / mse(exact_y),
        },
        "seconds_pytorch": torch_seconds,
        "seconds_ebm": ebm_seconds,
        "pytorch_device": str(dev) if dev.type != "cpu" else f"cpu ({torch.get_num_threads()} threads)",
        "ebm_adapter": f"{context.adapter} ({context.backend})",
    }
    (out_dir / f"compare-{dev.type}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\nIRED matrix inverse, {args.rank}x{args.rank}, {args.test} held-out matrices:\n"
        f"  {'':28} {'MSE':>10} {'seconds':>9}\n"
        f"  {'feed-forward (one pass)':28} {mse(ff_y):10.5f}\n"
        f"  {'IRED, PyTorch ' + result['pytorch_device']:28} {mse(torch_y):10.5f} {torch_seconds:9.3f}\n"
        f"  {'IRED, ebm':28} {mse(ebm_y):10.5f} {ebm_seconds:9.3f}\n"
        f"  {'IRED, PyTorch float64':28} {mse(exact_y):10.5f}\n"
        f"  ebm against PyTorch: largest relative difference of a sample {per_sample.max():.2e}, "
        f"MSE ratio {mse(ebm_y) / mse(torch_y):.5f}\n"
        f"  against the same inference in float64: ebm {apart(ebm_y, exact_y).max():.2e}, "
        f"PyTorch float32 {apart(torch_y, exact_y).max():.2e} (largest relative difference of a sample)\n"
        f"  with every step taken (no energy compared), ebm against PyTorch: "
        f"{result['every_step_taken']['max_relative_difference_per_sample']:.2e}\n"
        f"  steps refused of {result['steps_compared']} compared: PyTorch float32 {sum(refused32)}, "
        f"float64 {sum(refused64)}, ebm {ebm_refused}, ebm with rise_tolerance {RISE_TOLERANCE:g} "
        f"{tolerant_refused}\n"
        f"  ebm with rise_tolerance {RISE_TOLERANCE:g} against the float64 inference: largest "
        f"relative difference of a sample {tolerant.max():.2e}, MSE ratio "
        f"{mse(tolerant_y) / mse(exact_y):.5f}"
    )
    return result


def _on(d: Diffusion, dev, dtype=torch.float32) -> Diffusion:
    out = Diffusion.__new__(Diffusion)
    for k, v in vars(d).items():
        setattr(out, k, v.to(dev, dtype) if isinstance(v, torch.Tensor) else v)
    return out


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


if __name__ == "__main__":
    main()
