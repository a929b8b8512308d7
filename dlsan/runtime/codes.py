"""The ``DLS8xx`` codes: one per runtime finding kind, documented like the lint rules.

A runtime finding (:class:`dlsan.runtime.Finding`) has a *kind* (``"dead-relu"``, the string
probes and ``san.findings`` use) and, through this catalogue, a stable code in the same series as
the lint rules, so ``dlsan explain DLS803``, ``dlsan rules``, SARIF rule entries and every reporter
treat both halves alike.  The docs live in the class docstrings, in the sections lint rules use.

Pure data: this module imports neither torch nor libcst (``dlsan explain`` reads it).
"""

from __future__ import annotations

from dlsan.documented import Documented


class RuntimeCode(Documented):
    """Base of the runtime codes; `name` is the finding kind."""

    #: which probe emits it (the key of `instrument(checks=...)`)
    probe: str = ""


class Nonfinite(RuntimeCode):
    """
    ## What it does
    Names where a NaN or Inf first appeared while the model ran: the layer (forward or backward),
    the operation inside it and its source line (replayed on failure), or the parameter gradient.

    The first bad layer is the innermost module, in execution order, whose output (forward) or
    input gradient (backward) is non-finite while what it received was finite.  On a failure the
    module's forward is replayed op by op to name the first op that made a non-finite value from
    finite inputs (`torch.log` at `model.py:41`), with that op's input statistics and a hint.

    ## Why is this bad?
    One NaN spreads to every weight at the next optimizer step and the run is lost, but the loss
    only shows it steps later, far from the cause.

    ## Example
    ``python
    def forward(self, x):
        return torch.log(self.fc(x))      # log of negative pre-activations: NaN
    ``

    ## Use instead
    ``python
    def forward(self, x):
        return torch.log(F.softplus(self.fc(x)) + 1e-6)
    ``
    """

    code = "DLS801"
    name = "nonfinite"
    probe = "nonfinite"
    message = "a NaN or Inf first appeared in this layer"


class Shape(RuntimeCode):
    """
    ## What it does
    Checks the shape contracts declared with `instrument(model, shapes={"encoder": "B T D -> B T D"})`
    on every call of the named modules; a name binds once per forward pass across all contracts.

    ## Why is this bad?
    A tensor of the wrong shape often still runs (broadcasting, a reshape that fits) and trains
    to a worse model without any error.

    ## Example
    ``python
    dlsan.instrument(model, shapes={"encoder": "B T D -> B T D"})
    model.encoder(x.transpose(0, 1))   # T B D: breaks the contract
    ``

    ## Use instead
    ``python
    model.encoder(x)                   # B T D, as declared
    ``
    """

    code = "DLS802"
    name = "shape"
    probe = "shape"
    message = "a tensor broke a declared shape contract"


class DeadUnits(RuntimeCode):
    """
    ## What it does
    Reports layers most of whose units never fired over a window of training steps: the output of
    a ReLU module, or the input of a Linear/Conv layer exactly zero for every input, whatever
    activation (`F.relu`, `torch.relu`, ReLU6, hard-tanh) produced it.

    ## Why is this bad?
    A unit that is zero for every input gets no gradient, so nothing moves it back: the layer has
    lost its capacity for good.

    ## Example
    ``python
    self.fc1 = nn.Linear(64, 128)
    nn.init.constant_(self.fc1.bias, -10.0)   # every pre-activation negative
    h = F.relu(self.fc1(x))                   # 100% dead
    ``

    ## Use instead
    ``python
    nn.init.zeros_(self.fc1.bias)             # or LeakyReLU/GELU, a lower learning rate
    ``
    """

    code = "DLS803"
    name = "dead-relu"
    probe = "dead-relu"
    message = "most units of this layer never fire"


class VanishingGradient(RuntimeCode):
    """
    ## What it does
    Compares the gradient norm at the layers nearest the input with the layers nearest the output:
    a ratio below 1e-6 on the first step is a finding "at initialisation", a ratio below 1e-3 with
    a tiny first norm sustained over a window of sampled steps is a finding for long runs.

    ## Why is this bad?
    The input layers learn thousands of times slower than the output layers, or not at all.

    ## Example
    ``python
    nn.Sequential(*[m for _ in range(16) for m in (nn.Linear(32, 32), nn.Sigmoid())])
    ``

    ## Use instead
    ``python
    nn.Sequential(*[m for _ in range(16) for m in (nn.Linear(32, 32), nn.ReLU())])  # + residuals, norms
    ``
    """

    code = "DLS804"
    name = "vanishing-gradient"
    probe = "gradients"
    message = "the gradient vanishes from the output to the input layers"


class ExplodingGradient(RuntimeCode):
    """
    ## What it does
    Reports gradients that grow from the output to the input layers: a first-to-last ratio above
    1e4 (or an overflowed norm) on the first step is a finding "at initialisation", above 70 over
    a window of sampled steps a sustained one.

    ## Why is this bad?
    Updates of the input layers are orders of magnitude too large: the loss oscillates or
    diverges, and soon overflows to Inf/NaN.

    ## Example
    ``python
    for layer in model:
        layer.weight.data.mul_(3)    # each layer triples the gradient on its way back
    ``

    ## Use instead
    ``python
    nn.init.orthogonal_(layer.weight)   # variance-preserving init; normalisation; gradient clipping
    ``
    """

    code = "DLS805"
    name = "exploding-gradient"
    probe = "gradients"
    message = "the gradient explodes from the output to the input layers"


class UnusedParameter(RuntimeCode):
    """
    ## What it does
    Reports trainable parameters that received no gradient in any training step: the module was
    never called, its output did not reach the loss, or it ran under `no_grad`/`detach`.

    ## Why is this bad?
    The parameters never learn while the optimizer keeps state for them and weight decay shrinks
    them; usually an auxiliary head someone forgot to add to the loss.

    ## Example
    ``python
    logits, aux = model(x)
    loss = F.cross_entropy(logits, y)            # aux_head never gets a gradient
    ``

    ## Use instead
    ``python
    loss = F.cross_entropy(logits, y) + 0.3 * F.cross_entropy(aux, y)
    ``
    """

    code = "DLS806"
    name = "unused-parameter"
    probe = "unused-parameter"
    message = "these parameters never received a gradient"


class TrainModeInEval(RuntimeCode):
    """
    ## What it does
    Reports a model with dropout or batch-norm run under `no_grad`/`inference_mode` while in
    training mode.

    ## Why is this bad?
    Dropout still drops units (noisy, pessimistic metrics) and batch-norm normalises with batch
    statistics and updates its running averages with evaluation data.

    ## Example
    ``python
    with torch.no_grad():
        val_logits = model(x_val)
    ``

    ## Use instead
    ``python
    model.eval()
    with torch.no_grad():
        val_logits = model(x_val)
    model.train()
    ``
    """

    code = "DLS807"
    name = "train-mode-in-eval"
    probe = "train-mode-in-eval"
    message = "the model ran in training mode under no_grad"


class AmbiguousBroadcast(RuntimeCode):
    """
    ## What it does
    (Opt-in, `checks=["broadcast"]`.)  Reports element-wise ops and shape-sensitive losses whose
    operands broadcast both ways, such as `(N,)` with `(N, 1)` giving `(N, N)`.

    ## Why is this bad?
    The result has the wrong shape but a valid one: the loss is averaged over N*N pairs and the
    model trains towards the mean.

    ## Example
    ``python
    loss = F.mse_loss(model(x), y)     # (N, 1) against (N,)
    ``

    ## Use instead
    ``python
    loss = F.mse_loss(model(x).squeeze(-1), y)
    ``
    """

    code = "DLS808"
    name = "ambiguous-broadcast"
    probe = "broadcast"
    message = "an element-wise op broadcast both operands"
    default_enabled = False


class GraphLeak(RuntimeCode):
    """
    ## What it does
    Reports that the autograd graphs of earlier steps are still alive at a later step: a tensor
    with a `grad_fn` kept outside the loop (`running_loss += loss`, `losses.append(loss)`).
    It names the step the oldest graph came from, the model output it belongs to, and the memory
    growth per step.  Runtime twin of the lint rule DLS101.

    ## Why is this bad?
    Every step's graph (and, without a backward, its saved activations) stays in memory, so memory
    grows with every step until the run dies of it.

    ## Example
    ``python
    running_loss += loss
    ``

    ## Use instead
    ``python
    running_loss += loss.item()        # or loss.detach()
    ``
    """

    code = "DLS809"
    name = "graph-leak"
    probe = "graph-leak"
    message = "the autograd graphs of earlier steps are still alive"


class InitScale(RuntimeCode):
    """
    ## What it does
    On the first training step, measures each layer's output standard deviation relative to its
    input: when the product across depth collapses below 1e-3 or blows up above 1e3 it names the
    layers where it happens and suggests the initialisation that fits their activation.

    ## Why is this bad?
    Signals that shrink or grow by a constant factor per layer reach the loss as zeros or Infs;
    training starts saturated or diverges (the reason for Glorot and He initialisation).

    ## Example
    ``python
    for layer in mlp:
        nn.init.normal_(layer.weight, std=0.01)   # each ReLU layer scales the signal by ~0.1
    ``

    ## Use instead
    ``python
    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    ``
    """

    code = "DLS810"
    name = "init-scale"
    probe = "init-scale"
    message = "the activation scale collapses or blows up across depth at initialisation"


class OtherRuntimeFinding(RuntimeCode):
    """
    ## What it does
    The code of findings whose kind is not in the catalogue: those of probes registered by users
    (`dlsan.register_probe`).  The message says what the probe found.

    ## Why is this bad?
    It depends on the probe: see its documentation.

    ## Example
    ``python
    @dlsan.runtime.register_probe
    class MyProbe(Probe): ...
    ``

    ## Use instead
    ``python
    # what the probe's message suggests
    ``
    """

    code = "DLS800"
    name = "runtime-finding"
    message = "a finding of a user-registered probe"


#: every runtime code, by code order
RUNTIME_CODES: tuple[type[RuntimeCode], ...] = tuple(
    sorted(
        (
            Nonfinite, Shape, DeadUnits, VanishingGradient, ExplodingGradient, UnusedParameter,
            TrainModeInEval, AmbiguousBroadcast, GraphLeak, InitScale, OtherRuntimeFinding,
        ),
        key=lambda cls: cls.code,
    )
)  # fmt: skip

_BY_KIND = {cls.name: cls for cls in RUNTIME_CODES}


def code_for(kind: str) -> type[RuntimeCode]:
    """The catalogue entry of a finding kind (`DLS800` for kinds of user probes)."""
    return _BY_KIND.get(kind, OtherRuntimeFinding)
