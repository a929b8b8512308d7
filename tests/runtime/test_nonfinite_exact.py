"""The non-finite test is exact: finite values of any magnitude and -inf masks inside the model never
alarm, a real NaN/Inf is still found at the first bad layer, in every autograd mode."""

from __future__ import annotations

import pytest
import torch
import torch.utils.checkpoint as checkpoint
from torch import nn

import dlsan
from dlsan.runtime import NonFiniteError


class FinfoMinMask(nn.Module):
    """Additive attention mask filled with ``finfo(dtype).min`` (what Hugging Face models build):
    finite, but the sum of two such entries overflows to ``-inf``."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = x @ x.transpose(1, 2)
        causal = torch.ones(scores.shape[-2:], dtype=torch.bool, device=x.device).triu(1)
        mask = torch.zeros_like(scores).masked_fill(causal, torch.finfo(scores.dtype).min)
        return self.proj(self.attend(scores, mask) @ x)

    def attend(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.softmax(scores + mask, dim=-1)


class Attention(nn.Module):
    def forward(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.softmax(scores + mask, dim=-1)


class MaskPassedToChild(FinfoMinMask):
    """The same mask handed to a sub-module, so it crosses a module boundary as an input."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__(dim)
        self.attention = Attention()

    def attend(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.attention(scores, mask)


class Huge(nn.Module):
    """Returns activations near ``finfo.max``: finite, their sum is ``+inf``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sign() * torch.finfo(x.dtype).max


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("build", [FinfoMinMask, MaskPassedToChild])
def test_finfo_min_masks_never_alarm(build, dtype):
    model = build().to(dtype)
    x = torch.randn(2, 5, 8, dtype=dtype)
    with dlsan.instrument(model, on_error="record") as san:
        model(x).sum().backward()
        with torch.no_grad():
            model(x)
    assert not san.findings


def test_finite_activations_of_any_size_never_alarm():
    model = nn.Sequential(nn.Linear(8, 8), Huge(), nn.Flatten())
    with dlsan.instrument(model, on_error="record", checks=["nonfinite"]) as san:
        out = model(torch.randn(4, 8))
        assert torch.isfinite(out).all() and not torch.isfinite(out.sum())
    assert not san.findings


def test_huge_finite_gradients_never_alarm():
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8))
    big = torch.finfo(torch.float32).max / 2
    with dlsan.instrument(model, on_error="record", checks=["nonfinite"]) as san:
        out = model(torch.randn(4, 8))
        out.backward(torch.full_like(out, big))  # every gradient element finite, their sum is not
    assert not san.findings


def test_a_real_inf_next_to_a_finfo_min_mask_is_still_found():
    class Overflow(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.finfo(x.dtype).max * 4  # +inf and -inf

    model = nn.Sequential(MaskPassedToChild(), Overflow(), nn.Linear(8, 8))
    with dlsan.instrument(model), pytest.raises(NonFiniteError) as info:
        model(torch.randn(2, 5, 8))
    assert info.value.module == "1"


def _encoder() -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.1, batch_first=True)
    return nn.TransformerEncoder(layer, 2)  # enable_nested_tensor defaults to True: the fast path


def _padded(batch: int = 3, length: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    padding = torch.zeros(batch, length, dtype=torch.bool)
    padding[0, 4:] = True
    padding[1, 2:] = True
    return torch.randn(batch, length, 16), padding


def test_transformer_encoder_with_a_padding_mask_trains_and_evaluates_quietly():
    # PyTorch turns the boolean src_key_padding_mask into a float -inf mask inside the encoder;
    # under no_grad/inference_mode in eval mode the layers run on nested tensors (the fast path)
    model = _encoder()
    x, padding = _padded()
    with dlsan.instrument(model, on_error="record") as san:
        model(x, src_key_padding_mask=padding).sum().backward()
        model.eval()
        with torch.no_grad():
            model(x, src_key_padding_mask=padding)
        with torch.inference_mode():
            model(x, src_key_padding_mask=padding)
        model.train()
    assert not san.findings


def test_a_nan_after_the_fast_path_is_still_named():
    model = nn.Sequential(_encoder(), nn.Linear(16, 4)).eval()
    x, padding = _padded()
    with torch.no_grad():
        model[1].bias[0] = float("nan")
    with dlsan.instrument(model), torch.inference_mode(), pytest.raises(NonFiniteError) as info:
        model[1](model[0](x, src_key_padding_mask=padding))
    assert info.value.module == "1" and info.value.origin == "parameter"


def test_failure_statistics_are_given_under_no_grad_and_inference_mode():
    class Log(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.log(x)

    model = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), Log(), nn.Linear(8, 2))
    for mode in (torch.no_grad, torch.inference_mode):
        with dlsan.instrument(model), mode(), pytest.raises(NonFiniteError) as info:
            model(torch.randn(4, 8))
        message = str(info.value)
        assert info.value.module == "2"
        assert "values not available" not in message
        assert "NaN" in message and " of 32 values" in message


class CheckpointedBlocks(nn.Module):
    """Two blocks under activation checkpointing, each fed a ``finfo.min`` mask made by this code."""

    def __init__(self, reentrant: bool, bad: bool = False) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([MaskPassedToChild(), MaskPassedToChild()])
        self.head = nn.Linear(8, 2)
        self.reentrant = reentrant
        if bad:
            with torch.no_grad():
                self.blocks[1].proj.weight[0, 0] = float("inf")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = checkpoint.checkpoint(block, x, use_reentrant=self.reentrant)
        return self.head(x)


@pytest.mark.parametrize("reentrant", [True, False])
def test_checkpointing_recomputation_adds_no_findings(reentrant):
    x = torch.randn(2, 5, 8, requires_grad=True)
    model = CheckpointedBlocks(reentrant)
    with dlsan.instrument(model, on_error="record") as san:
        for _ in range(2):
            model(x).sum().backward()
    assert not san.findings
    model = CheckpointedBlocks(reentrant, bad=True)
    with dlsan.instrument(model, on_error="record") as san:
        model(x).sum().backward()
    assert [(f.module, f.phase, f.details["origin"]) for f in san.findings] == [
        ("blocks.1.proj", "forward", "parameter")
    ]


transformers = pytest.importorskip("transformers")


def _hf_models(attention: str) -> dict[str, nn.Module]:
    """Tiny random-weight models from configs (nothing downloaded)."""
    bert = transformers.BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37
    )
    gpt2 = transformers.GPT2Config(vocab_size=99, n_embd=32, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0)
    t5 = transformers.T5Config(
        vocab_size=99, d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4, decoder_start_token_id=0
    )
    for config in (bert, gpt2, t5):
        config._attn_implementation = attention
    return {
        "bert": transformers.BertForSequenceClassification(bert),
        "gpt2": transformers.GPT2LMHeadModel(gpt2),
        "t5": transformers.T5ForConditionalGeneration(t5),
    }


def hf_batch(name: str) -> dict[str, torch.Tensor]:
    ids = torch.randint(1, 99, (3, 7))
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[0, 5:] = 0
    labels = torch.tensor([0, 1, 0]) if name == "bert" else ids
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@pytest.mark.parametrize("name", ["bert", "gpt2", "t5"])
def test_eager_attention_masks_of_transformers_models_never_alarm(name):
    # eager attention adds masks filled with finfo.min (GPT-2: its causal mask, even unpadded)
    model = _hf_models("eager")[name]
    batch = hf_batch(name)
    with dlsan.instrument(model, on_error="record") as san:
        model(**batch).loss.backward()
        model.eval()
        with torch.no_grad():
            model(**batch)
        model.train()
        model.gradient_checkpointing_enable()  # reentrant recomputation in backward
        model(**batch).loss.backward()
    assert not san.findings
