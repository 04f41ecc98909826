"""How many sequences fit on a device: the KV cache's bytes per token, the weights' bytes, free memory.

``batch_size: auto`` (evaluation) asks :func:`auto_batch_size` for the most sequences of a given length
whose KV cache and last-step logits fit in what is left of a budget after the weights, less a stated
headroom (:data:`HEADROOM`: activations of the prefill, the allocator's fragmentation). The budget is
the device's free memory (CUDA: ``mem_get_info``; CPU: ``MemAvailable``) or one given in GiB.
"""

from __future__ import annotations

from typing import Any

HEADROOM = 0.2
"""Share of the budget kept free for what the formula does not count (prefill activations, fragmentation)."""
MAX_AUTO_BATCH = 256
"""The largest batch ``auto`` chooses (beyond it a decode step is compute-bound on every card we know)."""


def text_config(model: Any) -> Any:
    """The language model's config of a LLaVA-style or plain causal LM."""
    config = model.config
    getter = getattr(config, "get_text_config", None)
    return getter() if callable(getter) else getattr(config, "text_config", config)


def kv_bytes_per_token(model: Any) -> int:
    """Bytes the KV cache holds per token of one sequence: 2 (K, V) x layers x KV heads x head dim x dtype."""
    cfg = text_config(model)
    heads = cfg.num_attention_heads
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    itemsize = next(model.parameters()).element_size()
    return 2 * cfg.num_hidden_layers * kv_heads * head_dim * itemsize


def weight_bytes(model: Any) -> int:
    """Bytes of the model's parameters and buffers."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def free_bytes(device: Any) -> int:
    """Free memory of ``device``: CUDA's ``mem_get_info``, else the host's ``MemAvailable``."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("cannot read the host's free memory (/proc/meminfo has no MemAvailable)")


def sequence_bytes(model: Any, tokens: int) -> int:
    """One sequence of ``tokens`` tokens: its KV cache plus one step's fp32 logits row."""
    vocab = text_config(model).vocab_size
    return kv_bytes_per_token(model) * tokens + 4 * vocab


def auto_batch_size(
    model: Any,
    tokens: int,
    budget_gib: float | None = None,
    headroom: float = HEADROOM,
    cap: int = MAX_AUTO_BATCH,
) -> int:
    """The most sequences of ``tokens`` tokens (prompt + new) that fit, at least 1, at most ``cap``.

    ``budget_gib``: the memory the weights and the sequences may use in all; None: the free memory of
    the model's device (the weights are already on it). Raises ``MemoryError`` when not even one fits.
    """
    device = next(model.parameters()).device
    if budget_gib is not None:
        available = budget_gib * 2**30 * (1 - headroom) - weight_bytes(model)
    else:
        available = free_bytes(device) * (1 - headroom)
    per_sequence = sequence_bytes(model, tokens)
    fits = int(available // per_sequence)
    if fits < 1:
        where = f"a {budget_gib} GiB budget" if budget_gib is not None else f"the free memory of {device}"
        raise MemoryError(
            f"one sequence of {tokens} tokens needs {per_sequence / 2**20:.1f} MiB; {where} leaves "
            f"{max(available, 0) / 2**20:.1f} MiB after the weights and {headroom:.0%} headroom"
        )
    return min(fits, cap)
