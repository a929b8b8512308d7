"""The zoo: real architectures, every probe on, train and eval, fp32 and bf16 autocast, activation
checkpointing (reentrant and not) where the model supports it, a few under ``torch.compile``:
no finding, no crash, and outputs and weights bitwise equal to an uninstrumented copy.

Tiny random-weight models built from configs (nothing is downloaded).  The whole zoo is marked
``slow``: about 2 minutes on two shared cores (``pytest tests/runtime/test_zoo.py --durations=0``).
The distributed setups (DDP, FSDP1, FSDP2) are in ``test_zoo_distributed.py``.

timm's ResNet, ViT and ConvNeXt are in it where timm is installed (the README's test command and
``.ci/run`` do it with ``pip install --no-deps timm``: it is not in the ``test`` extra, since pip
would replace torch to install it).  timm imports
torchvision when imported, and torchvision's wheels do not load beside this torch: timm is imported
with an inert stand-in for torchvision (``timm_without_torchvision.py`` says how, and
``test_timm_models_use_nothing_of_torchvision`` that the models use none of it).
"""

from __future__ import annotations

import copy
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from timm_without_torchvision import import_timm, uses_stand_in
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import dlsan
from dlsan.runtime.probe import probe_classes

pytestmark = pytest.mark.slow

STEPS = 3
#: every probe on; short enough windows that the unused-parameter check judges within the run
EVERY_PROBE: dict[str, Any] = {
    "on_error": "raise",
    "checks": sorted(probe_classes()),
    "options": {"unused-parameter": {"steps": 2}},
}


@dataclass
class Case:
    name: str
    build: Callable[[], nn.Module]
    batch: Callable[[], dict[str, Any]]
    loss: Callable[[Any], torch.Tensor]
    #: how to switch activation checkpointing on (reentrant or not), or None where unsupported
    checkpointing: Callable[[nn.Module, bool], None] | None = None
    #: whether the model runs under CPU bf16 autocast at all (without dlsan)
    bf16: bool = True


# -- torch.nn ------------------------------------------------------------------------------------


class Encoder(nn.Module):
    """nn.TransformerEncoder over embeddings, with a padding mask (its documented use)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.head = nn.Linear(16, 3)

    def forward(self, tokens: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(tokens), src_key_padding_mask=padding).mean(1))


class Attention(nn.Module):
    """nn.MultiheadAttention with a key padding mask and a causal float -inf mask."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 2, dropout=0.1, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        causal = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
        out, _ = self.attn(x, x, x, key_padding_mask=padding, attn_mask=causal)
        return self.head(out[:, 0])


class Packed(nn.Module):
    """A packed LSTM (or GRU) over padded sequences of different lengths."""

    def __init__(self, cell: type[nn.RNNBase]) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.rnn = cell(16, 16, batch_first=True, num_layers=2, dropout=0.1)
        self.head = nn.Linear(16, 3)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(self.embed(tokens), lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        return self.head(out.sum(1))


def _padding() -> torch.Tensor:
    padding = torch.zeros(4, 6, dtype=torch.bool)
    padding[0, 4:] = True
    padding[2, 1:] = True
    return padding


def _classify(out: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(out.float(), torch.tensor([0, 1, 2, 1]))


NN_CASES = [
    # under CPU autocast, PyTorch's own padding-mask path fails ("expected scalar type Float but found BFloat16")
    Case(
        "transformer-encoder",
        Encoder,
        lambda: {"tokens": torch.randint(0, 50, (4, 6)), "padding": _padding()},
        _classify,
        bf16=False,
    ),
    Case("multihead-attention", Attention, lambda: {"x": torch.randn(4, 6, 16), "padding": _padding()}, _classify),
    Case(
        "packed-lstm",
        lambda: Packed(nn.LSTM),
        lambda: {"tokens": torch.randint(0, 50, (4, 6)), "lengths": torch.tensor([6, 3, 1, 5])},
        _classify,
    ),
    Case(
        "packed-gru",
        lambda: Packed(nn.GRU),
        lambda: {"tokens": torch.randint(0, 50, (4, 6)), "lengths": torch.tensor([6, 3, 1, 5])},
        _classify,
    ),
]


# -- transformers --------------------------------------------------------------------------------


def _hf_cases() -> list[Case]:
    transformers = pytest.importorskip("transformers")

    def config(cls: Any, attention: str, **fields: Any) -> Any:
        made = cls(**fields)
        made._attn_implementation = attention
        return made

    def checkpointing(model: nn.Module, reentrant: bool) -> None:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": reentrant})  # type: ignore[operator]

    def text(labels: str) -> Callable[[], dict[str, Any]]:
        def batch() -> dict[str, Any]:
            ids = torch.randint(1, 99, (4, 7))
            mask = torch.ones(4, 7, dtype=torch.long)
            mask[0, 5:] = 0
            target = torch.tensor([0, 1, 0, 1]) if labels == "class" else ids
            return {"input_ids": ids, "attention_mask": mask, "labels": target}

        return batch

    def loss(out: Any) -> torch.Tensor:
        return out.loss

    cases = []
    for attention in ("eager", "sdpa"):
        bert = config(
            transformers.BertConfig, attention,
            vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        )  # fmt: skip
        gpt2 = config(
            transformers.GPT2Config, attention,
            vocab_size=99, n_embd=32, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0, use_cache=False,
        )  # fmt: skip
        t5 = config(
            transformers.T5Config, attention,
            vocab_size=99, d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4, decoder_start_token_id=0,
            use_cache=False,
        )  # fmt: skip
        vit = config(
            transformers.ViTConfig, attention,
            image_size=16, patch_size=4, num_channels=3, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=37, num_labels=3,
        )  # fmt: skip

        def images() -> dict[str, Any]:
            return {"pixel_values": torch.randn(4, 3, 16, 16), "labels": torch.tensor([0, 1, 2, 0])}

        cases += [
            Case(f"bert-{attention}", lambda c=bert: transformers.BertForSequenceClassification(c), text("class"), loss, checkpointing),
            Case(f"gpt2-{attention}", lambda c=gpt2: transformers.GPT2LMHeadModel(c), text("lm"), loss, checkpointing),
            Case(f"t5-{attention}", lambda c=t5: transformers.T5ForConditionalGeneration(c), text("lm"), loss, checkpointing),
            Case(f"vit-{attention}", lambda c=vit: transformers.ViTForImageClassification(c), images, loss, checkpointing),
        ]  # fmt: skip
    return cases


# -- timm ----------------------------------------------------------------------------------------


def _timm_cases() -> list[Case]:
    if importlib.util.find_spec("timm") is None:
        return []
    timm = import_timm()
    from timm.models.convnext import ConvNeXt
    from timm.models.resnet import BasicBlock, ResNet
    from timm.models.vision_transformer import VisionTransformer

    def checkpointing(model: nn.Module, reentrant: bool) -> None:
        timm.layers.set_reentrant_ckpt(reentrant)  # timm's switch is global; each case sets it
        model.set_grad_checkpointing(True)  # type: ignore[operator]

    def images() -> dict[str, Any]:
        return {"x": torch.randn(4, 3, 32, 32)}

    return [
        Case("timm-resnet", lambda: ResNet(BasicBlock, [1, 1, 1, 1], num_classes=3, drop_rate=0.1), images, _classify, checkpointing),
        Case(
            "timm-vit",
            lambda: VisionTransformer(
                img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=3, drop_rate=0.1,
                drop_path_rate=0.1,
            ),
            images, _classify, checkpointing,
        ),
        Case(
            "timm-convnext",
            lambda: ConvNeXt(depths=(1, 1, 1, 1), dims=(16, 32, 48, 64), num_classes=3, drop_path_rate=0.1),
            images, _classify, checkpointing,
        ),
    ]  # fmt: skip


def _all_cases() -> list[Case]:
    try:
        hf = _hf_cases()
    except pytest.skip.Exception:
        hf = []
    return NN_CASES + hf + _timm_cases()


CASES = {case.name: case for case in _all_cases()}


# -- the run -------------------------------------------------------------------------------------


def _outputs(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out.detach().clone()]
    return [v.detach().clone() for v in out.values() if isinstance(v, torch.Tensor)]


def _run(
    model: nn.Module, case: Case, batches: list[dict[str, Any]], bf16: bool, watched: bool, options: dict[str, Any] = EVERY_PROBE
) -> list[torch.Tensor]:
    """Train ``STEPS`` steps and evaluate once (eval mode, no_grad and inference_mode); returns
    every output and the final weights."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    san = dlsan.instrument(model, optimizer=optimizer, **options) if watched else None
    seen: list[torch.Tensor] = []
    try:
        for step, batch in enumerate(batches):
            torch.manual_seed(step)  # dropout draws the same in both copies: dlsan draws nothing
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = model(**batch)
                loss = case.loss(out)
            loss.backward()
            optimizer.step()
            seen += _outputs(out)
        model.eval()
        for mode in (torch.no_grad, torch.inference_mode):
            with mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                seen += _outputs(model(**batches[0]))
        model.train()
        if san is not None:
            assert san.findings == []
    finally:
        if san is not None:
            san.remove()
    return seen + [p.detach().clone() for p in model.parameters()]


def _same_bits(case: Case, bf16: bool = False, reentrant: bool | None = None) -> None:
    torch.manual_seed(0)
    model = case.build()
    if reentrant is not None:
        assert case.checkpointing is not None
        case.checkpointing(model, reentrant)
    twin = copy.deepcopy(model)
    torch.manual_seed(1)
    batches = [case.batch() for _ in range(STEPS)]
    plain = _run(model, case, batches, bf16, watched=False)
    watched = _run(twin, case, batches, bf16, watched=True)
    assert len(plain) == len(watched)
    for index, (a, b) in enumerate(zip(plain, watched)):
        assert torch.equal(a, b), f"{case.name}: tensor {index} differs with dlsan"


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
@pytest.mark.parametrize("name", list(CASES))
def test_zoo_trains_and_evaluates_quietly_with_the_same_bits(name: str, bf16: bool) -> None:
    if bf16 and not CASES[name].bf16:
        pytest.skip(f"{name} does not run under CPU bf16 autocast, with or without dlsan")
    _same_bits(CASES[name], bf16=bf16)


@pytest.mark.parametrize("reentrant", [True, False], ids=["reentrant", "non-reentrant"])
@pytest.mark.parametrize("name", [name for name, case in CASES.items() if case.checkpointing is not None])
def test_zoo_with_activation_checkpointing(name: str, reentrant: bool) -> None:
    _same_bits(CASES[name], reentrant=reentrant)


def _compiled(model: nn.Module, graphs: list[int]) -> nn.Module:
    """``torch.compile(model)`` after a dynamo reset, with aot_eager counting the ops of each graph."""
    from torch._dynamo.backends.registry import lookup_backend

    aot_eager = lookup_backend("aot_eager")

    def counting(gm: torch.fx.GraphModule, example_inputs: list[torch.Tensor]) -> Any:
        graphs.append(sum(node.op == "call_function" for node in gm.graph.nodes))
        return aot_eager(gm, example_inputs)

    torch._dynamo.reset()
    compiled: nn.Module = torch.compile(model, backend=counting)  # type: ignore[assignment]
    return compiled


@pytest.mark.parametrize("name", ["transformer-encoder", "multihead-attention", "packed-lstm"])
def test_zoo_under_torch_compile(name: str) -> None:
    """Every probe on, broadcast included: the same graphs (and ops in each) as the plain model.
    The packed LSTM runs eagerly inside the compiled call (dynamo does not trace RNNs).  BERT (sdpa)
    and GPT-2 (eager) pass this too, but take minutes to compile here (250 s and 155 s on two
    loaded cores), so they are left out."""
    case = CASES[name]
    torch.manual_seed(0)
    model = case.build()
    twin = copy.deepcopy(model)
    batches = [case.batch() for _ in range(STEPS)]
    plain_graphs: list[int] = []
    watched_graphs: list[int] = []
    plain = _run(_compiled(model, plain_graphs), case, batches, False, watched=False)
    watched = _run(_compiled(twin, watched_graphs), case, batches, False, watched=True)
    torch._dynamo.reset()
    assert plain_graphs and watched_graphs == plain_graphs
    assert len(plain) == len(watched)
    for a, b in zip(plain, watched):
        assert torch.equal(a, b)


def test_timm_models_use_nothing_of_torchvision() -> None:
    """The timm cases are built with torchvision's stand-in in place where torchvision does not
    load: none of their modules comes from it (calling any of it raises, so their runs would fail)."""
    if importlib.util.find_spec("timm") is None:
        pytest.skip("timm is not installed (pip install --no-deps timm; the test extra would replace torch)")
    for name in ("timm-resnet", "timm-vit", "timm-convnext"):
        model = CASES[name].build()
        assert uses_stand_in(model) == []
        assert model(**CASES[name].batch()).shape == (4, 3)
