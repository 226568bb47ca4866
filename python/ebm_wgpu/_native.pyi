"""Type stubs of ebm_wgpu._native (the PyO3 module); see the docstrings for details."""

from os import PathLike
from typing import Any, Callable, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

ArrayLike = Any  # float NumPy array, CPU torch tensor, __dlpack__ or buffer-protocol object
F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]
F64 = npt.NDArray[np.float64]

__version__: str

class EbmError(RuntimeError):
    """A failure on the GPU or with a file: no adapter, a lost device, out of memory,
    non-finite chains, divergence."""

def adapters(backend: Optional[str] = None) -> list[str]:
    """Every adapter wgpu sees, as "name (backend, kind)", the one Context() opens first."""

class Context:
    """A GPU adapter, its device and queue; shared by the engines made on it."""
    def __init__(self, adapter: Optional[str] = None, backend: Optional[str] = None) -> None: ...
    @property
    def adapter(self) -> str: ...
    @property
    def backend(self) -> str: ...

class Model:
    """E(x, y): a graph of ops over x and y with named parameters. An MLP (``random``,
    ``from_layers``, an nn.Sequential in ``from_torch``) is one such graph; ``activation``,
    ``output``, ``weights`` and ``biases`` describe an MLP and are None for any other graph
    (``graph`` and ``params`` describe every model)."""
    @staticmethod
    def load(path: Union[str, PathLike[str]]) -> Model: ...
    def save(self, path: Union[str, PathLike[str]]) -> None: ...
    @staticmethod
    def random(
        x_dim: int,
        y_dim: int,
        hidden: Sequence[int],
        *,
        activation: str = "silu",
        output: str = "softplus",
        outputs: int = 1,
        seed: int = 0,
    ) -> Model: ...
    @staticmethod
    def from_layers(
        x_dim: int,
        y_dim: int,
        weights: Sequence[ArrayLike],
        biases: Sequence[ArrayLike],
        *,
        activation: str,
        output: str,
    ) -> Model: ...
    @staticmethod
    def from_graph(
        graph: Union[dict[str, Any], str], x_dim: int, y_dim: int, params: dict[str, ArrayLike]
    ) -> Model: ...
    @staticmethod
    def from_torch(module: Any, x_dim: int, y_dim: int, output: Optional[str] = None) -> Model: ...
    @property
    def x_dim(self) -> int: ...
    @property
    def y_dim(self) -> int: ...
    @property
    def activation(self) -> Optional[str]: ...
    @property
    def output(self) -> Optional[str]: ...
    @property
    def weights(self) -> Optional[list[F32]]: ...
    @property
    def biases(self) -> Optional[list[F32]]: ...
    @property
    def graph(self) -> dict[str, Any]: ...
    @property
    def params(self) -> dict[str, F32]: ...

def _ops() -> dict[str, tuple[str, ...]]:
    """ebm's op table: each op kind of the model file and the PyTorch spellings
    ``Model.from_torch`` reads as it."""

class Progress:
    """Where a refinement or training run stands, given to a progress callback."""
    steps_done: int
    steps_total: int
    elapsed: float

class Evaluation:
    energy: F32
    grad: F32

class Refinement:
    """Every chain of a refinement; counts are int32, the rest float32."""
    y: F32
    energy: F32
    steps_taken: I32
    accepted: I32
    acceptance: F32
    step_scale: F32
    acceptance_warmup: Optional[F32]
    acceptance_after_warmup: Optional[F32]
    non_finite_at: Optional[I32]
    trace: Optional[dict[str, F64]]
    decoded_y: Optional[F32]
    decoded_energy: Optional[F32]
    swap_acceptance: Optional[F32]
    round_trips: Optional[I32]
    swaps_proposed: Optional[I32]
    swaps_accepted: Optional[I32]
    cancelled: bool
    path: str
    gpu_seconds: Optional[float]

class BestOf:
    """The best of R chains per x."""
    y: F32
    energy: F32
    best: I32
    spread: F32
    all: Refinement

class Stage:
    """One stage of a schedule: `steps` steps of step size `step_size` at temperature
    `temperature`, on landscape `landscape` (None: refine's `landscape`), clamped to `clamp`
    (None: refine's `clamp`); under keep-if-lower, `take_every_step` takes every step of the
    stage, none compared."""
    steps: int
    step_size: float
    temperature: float
    landscape: Optional[float]
    clamp: Optional[Tuple[float, float]]
    take_every_step: bool
    def __init__(
        self,
        steps: int,
        step_size: float,
        temperature: float = 0.0,
        *,
        landscape: Optional[float] = None,
        clamp: Optional[Tuple[float, float]] = None,
        take_every_step: bool = False,
    ) -> None: ...

class Engine:
    """A model on a GPU: eval and refine whole batches; the GIL is released while the GPU
    works, and one engine may be shared by several threads."""
    def __init__(
        self,
        model: Model,
        context: Optional[Context] = None,
        *,
        kernel: str = "auto",
        chunk: Optional[int] = None,
    ) -> None: ...
    @property
    def model(self) -> Model: ...
    @staticmethod
    def fitting_paths(model: Model, context: Optional[Context] = None) -> list[str]: ...
    def path_for(self, chains: int) -> str: ...
    def eval(self, x: Optional[ArrayLike], y: ArrayLike, *, landscape: float = 0.0) -> Evaluation: ...
    def refine(
        self,
        x: Optional[ArrayLike],
        y0: ArrayLike,
        *,
        steps: int,
        step_size: Optional[float] = None,
        temperature: float = 0.0,
        schedule: str = "constant",
        step_size_end: Optional[float] = None,
        temperature_end: Optional[float] = None,
        stages: Optional[Union[Sequence[Stage], str]] = None,
        landscape: float = 0.0,
        seed: Optional[int] = None,
        chain_offset: int = 0,
        prior_l2: float = 0.0,
        clamp: Optional[Tuple[float, float]] = None,
        clip_grad: Optional[float] = None,
        simplex: Optional[int] = None,
        fixed: Optional[ArrayLike] = None,
        best_of: Optional[int] = None,
        mala: bool = False,
        adapt_steps: Optional[int] = None,
        target_accept: Optional[float] = None,
        keep_if_lower: bool = False,
        shrink: Optional[float] = None,
        rise_tolerance: Optional[float] = None,
        replicas: Optional[int] = None,
        ladder: Optional[Tuple[float, float]] = None,
        ladder_factors: Optional[Sequence[float]] = None,
        swap_every: Optional[int] = None,
        vertex_penalty: Optional[Tuple[float, float]] = None,
        vertex_penalty_schedule: Optional[str] = None,
        decode: bool = False,
        stop_grad: Optional[float] = None,
        stop_change: Optional[float] = None,
        stop_below: Optional[float] = None,
        trace: bool = False,
        dispatch_ms: Optional[float] = None,
        keep_non_finite: bool = False,
        progress: Optional[Callable[[Progress], Optional[bool]]] = None,
    ) -> Union[Refinement, BestOf]: ...

class Trainer:
    """Trains a model's weights on the GPU (contrastive divergence or NCE)."""
    def __init__(
        self,
        model: Model,
        y: ArrayLike,
        x: Optional[ArrayLike] = None,
        *,
        context: Optional[Context] = None,
        kernel: str = "auto",
        resume: Optional[Union[str, PathLike[str]]] = None,
        objective: str = "cd",
        alpha: float = 1.0,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        clip_grad_norm: Optional[float] = 1.0,
        batch: int = 256,
        replay: int = 10000,
        reinit: float = 0.05,
        seed: int = 0,
        log_every: int = 100,
        negative_steps: int = 20,
        negative_step_size: float = 0.01,
        negative_temperature: float = 1.0,
        prior_l2: float = 0.0,
        clamp: Optional[Tuple[float, float]] = None,
        clip_grad: Optional[float] = None,
        simplex: Optional[int] = None,
        mala: bool = False,
        adapt_steps: Optional[int] = None,
        target_accept: Optional[float] = None,
        keep_if_lower: bool = False,
        shrink: Optional[float] = None,
        rise_tolerance: Optional[float] = None,
    ) -> None: ...
    def run(
        self, steps: int, progress: Optional[Callable[[Progress], Optional[bool]]] = None
    ) -> dict[str, F64]: ...
    @property
    def step(self) -> int: ...
    def model(self) -> Model: ...
    def save_checkpoint(self, path: Union[str, PathLike[str]]) -> None: ...
