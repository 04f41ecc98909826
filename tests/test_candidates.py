"""Stage 2 candidate search on srcal-micro: records, raw-logit log-probs, determinism, resume, dedup, shards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks.records import read_items
from calibrate.candidates import generate_candidates
from calibrate.config import CandidateConfig
from calibrate.decoding import (
    Generated,
    _extend,
    _Partial,
    diverse_order,
    encode_prompt,
    sample_responses,
    sentence_cut,
    sentence_end,
)
from calibrate.models import load_model
from calibrate.records import CandidateSet

FINISHES = {"eos", "answer", "budget", "greedy"}


@pytest.fixture(scope="module")
def micro(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from calibrate.zoo.srcal_micro import build_srcal_micro

    return build_srcal_micro(tmp_path_factory.mktemp("micro") / "srcal-micro")


@pytest.fixture(scope="module")
def policy(micro: Path):
    return load_model(micro, device="cpu")


@pytest.fixture(scope="module")
def chatty_policy(micro: Path):
    """srcal-micro with an output bias towards ``.``, space, newline and EOS, so sentences end often."""
    loaded = load_model(micro, device="cpu")
    tokenizer = loaded.processor.tokenizer
    old = loaded.model.lm_head
    head = torch.nn.Linear(old.in_features, old.out_features, bias=True)
    with torch.no_grad():
        head.weight.copy_(old.weight)
        head.bias.zero_()
        for text, boost in ((".", 3.0), (" ", 3.0), ("\n", 3.5)):
            head.bias[tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text))[0]] = boost
        head.bias[tokenizer.eos_token_id] = 1.0
    loaded.model.lm_head = head
    return loaded


@pytest.fixture(scope="module")
def items(smoke_dataset: Path) -> list:
    return read_items(smoke_dataset / "calib.jsonl")[:6]


def _cfg(**overrides) -> CandidateConfig:
    base = {"num_candidates": 3, "max_new_tokens": 12, "batch_size": 2}
    base.update(overrides)
    return CandidateConfig(**base)


def _sets(path: Path) -> list[CandidateSet]:
    return [CandidateSet.from_dict(json.loads(line)) for line in path.read_text().splitlines()]


def _image(smoke_dataset: Path, item):
    from PIL import Image

    with Image.open(smoke_dataset / item.image) as image:
        return image.convert("RGB")


def _teacher_forced(policy, smoke_dataset: Path, item, tokens: list[int]) -> list[float]:
    """Log-probs of ``tokens`` after the item's prompt, from one plain forward pass."""
    from benchmarks.prompts import build_prompt

    ids, pixels = encode_prompt(
        policy.processor, _image(smoke_dataset, item), build_prompt(item.question, item.choices)
    )
    full = torch.tensor([ids + tokens])
    with torch.inference_mode():
        logits = policy.model(input_ids=full, pixel_values=pixels[None]).logits[0]
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    return [logprobs[len(ids) - 1 + t, tok].item() for t, tok in enumerate(tokens)]


def _check_records(sets: list[CandidateSet], items: list, cfg: CandidateConfig) -> None:
    assert [s.item_id for s in sets] == [item.id for item in items]
    for s in sets:
        assert 1 <= len(s.candidates) <= min(cfg.num_candidates, s.num_generated)
        assert [c.candidate_id for c in s.candidates] == list(range(len(s.candidates)))
        texts = [" ".join(c.text.split()) for c in s.candidates]
        assert len(set(texts)) == len(texts)
        for c in s.candidates:
            assert len(c.token_logprobs) == c.num_tokens >= 1
            assert c.num_tokens <= cfg.max_new_tokens
            assert c.logprob_sum == pytest.approx(sum(c.token_logprobs), abs=1e-4)
            assert all(lp <= 0.0 for lp in c.token_logprobs)
            assert c.parse_status
            assert c.correct in (True, False)
            assert c.origin["strategy"] == cfg.strategy


class TestRecords:
    def test_sampling(self, policy, items, smoke_dataset: Path, tmp_path: Path) -> None:
        cfg = _cfg()
        out = tmp_path / "c.jsonl"
        summary = generate_candidates(policy, items, smoke_dataset, cfg, out, seed=0)
        sets = _sets(out)
        _check_records(sets, items, cfg)
        assert all(s.num_generated == cfg.num_candidates for s in sets)
        assert summary["items"] == len(items) and summary["tokens"] > 0
        for key in (
            "candidates_per_item",
            "duplicates_removed",
            "parse_failure_rate",
            "correct_rate",
            "seconds",
        ):
            assert key in summary

    def test_sentence_search(self, chatty_policy, items, smoke_dataset: Path, tmp_path: Path) -> None:
        cfg = _cfg(
            strategy="sentence_search",
            max_new_tokens=24,
            sentence_beams=2,
            sentence_keep=2,
            max_sentences=3,
            num_candidates=4,
        )
        out = tmp_path / "c.jsonl"
        generate_candidates(chatty_policy, items, smoke_dataset, cfg, out, seed=0)
        sets = _sets(out)
        _check_records(sets, items, cfg)
        origins = [c.origin for s in sets for c in s.candidates]
        assert {o["finish"] for o in origins} <= FINISHES
        assert max(o["sentences"] for o in origins) > 1, "no response grew past one sentence"
        assert all(o["sentences"] <= cfg.max_sentences + 1 for o in origins)


class TestLogprobs:
    @pytest.mark.parametrize("temperature", [0.0, 1.0])
    def test_raw_logits_match_teacher_forcing(
        self, policy, items, smoke_dataset: Path, temperature: float
    ) -> None:
        """Batched, left-padded, shared-prefill generation reports the policy's own (unwarped) log-probs."""
        from benchmarks.prompts import build_prompt

        torch.manual_seed(0)
        batch = items[:2]
        responses, _ = sample_responses(
            policy.model,
            policy.processor,
            [_image(smoke_dataset, item) for item in batch],
            [build_prompt(item.question, item.choices) for item in batch],
            1,
            temperature=temperature,
            top_p=0.5,
            max_new_tokens=10,
            batch_size=2,
        )
        for item, (g,) in zip(batch, responses):
            reference = _teacher_forced(policy, smoke_dataset, item, g.tokens)
            assert sum(g.logprobs) == pytest.approx(sum(reference), abs=1e-3)
            assert g.logprobs == pytest.approx(reference, abs=1e-4)

    def test_every_sample_of_a_shared_prefill_matches_teacher_forcing(
        self, policy, items, smoke_dataset: Path
    ) -> None:
        """Several samples per prompt from one prefill whose KV cache is repeated: each sample's own log-probs."""
        from benchmarks.prompts import build_prompt

        torch.manual_seed(1)
        batch = items[:3]
        responses, _ = sample_responses(
            policy.model,
            policy.processor,
            [_image(smoke_dataset, item) for item in batch],
            [build_prompt(item.question, item.choices) for item in batch],
            4,
            temperature=1.0,
            top_p=0.9,
            max_new_tokens=10,
            batch_size=3,
        )
        checked = 0
        for item, samples in zip(batch, responses):
            assert (
                len(samples) == 4 and len({tuple(g.tokens) for g in samples}) > 1
            )  # really different samples
            for g in samples:
                reference = _teacher_forced(policy, smoke_dataset, item, g.tokens)
                assert g.logprobs == pytest.approx(reference, abs=1e-4)
                checked += 1
        assert checked == 12

    def test_record_of_greedy_candidate(self, policy, items, smoke_dataset: Path, tmp_path: Path) -> None:
        from benchmarks.prompts import build_prompt

        item = items[0]
        out = tmp_path / "c.jsonl"
        generate_candidates(policy, [item], smoke_dataset, _cfg(temperature=0.0, batch_size=1), out, seed=0)
        (s,) = _sets(out)
        (c,) = s.candidates
        responses, _ = sample_responses(
            policy.model,
            policy.processor,
            [_image(smoke_dataset, item)],
            [build_prompt(item.question, item.choices)],
            1,
            temperature=0.0,
            top_p=1.0,
            max_new_tokens=12,
            batch_size=1,
        )
        tokens = responses[0][0].tokens
        assert c.num_tokens == len(tokens)
        assert c.logprob_sum == pytest.approx(
            sum(_teacher_forced(policy, smoke_dataset, item, tokens)), abs=1e-3
        )


class TestResume:
    def test_same_seed_same_file(self, policy, items, smoke_dataset: Path, tmp_path: Path) -> None:
        for strategy in ("sampling", "sentence_search"):
            cfg = _cfg(strategy=strategy, sentence_beams=2, sentence_keep=2, max_sentences=2)
            a, b, c = (tmp_path / f"{strategy}-{x}.jsonl" for x in "abc")
            generate_candidates(policy, items, smoke_dataset, cfg, a, seed=3)
            generate_candidates(policy, items, smoke_dataset, cfg, b, seed=3)
            generate_candidates(policy, items, smoke_dataset, cfg, c, seed=4)
            assert a.read_bytes() == b.read_bytes()
            assert a.read_bytes() != c.read_bytes()

    def test_resume_is_byte_identical(self, policy, items, smoke_dataset: Path, tmp_path: Path) -> None:
        cfg = _cfg()
        full, resumed = tmp_path / "full.jsonl", tmp_path / "resumed.jsonl"
        generate_candidates(policy, items, smoke_dataset, cfg, full, seed=1)

        generate_candidates(policy, items[:2], smoke_dataset, cfg, resumed, seed=1)  # stopped after batch 0
        assert resumed.read_bytes() == b"".join(full.read_bytes().splitlines(keepends=True)[:2])
        generate_candidates(policy, items[:4], smoke_dataset, cfg, resumed, seed=1)
        lines = resumed.read_bytes().splitlines(keepends=True)
        # simulate a kill: batch 1 half logged (one line lost), then a torn write
        resumed.write_bytes(b"".join(lines[:3]) + lines[3][: len(lines[3]) // 2])
        summary = generate_candidates(policy, items, smoke_dataset, cfg, resumed, seed=1)
        assert resumed.read_bytes() == full.read_bytes()
        assert summary["items"] == len(items) and summary["items_generated"] == 3

        summary = generate_candidates(policy, items, smoke_dataset, cfg, resumed, seed=1)
        assert summary["items_generated"] == 0 and summary["tokens"] == 0
        assert resumed.read_bytes() == full.read_bytes()

    def test_shards(self, policy, items, smoke_dataset: Path, tmp_path: Path) -> None:
        cfg = _cfg()
        full = tmp_path / "full.jsonl"
        generate_candidates(policy, items, smoke_dataset, cfg, full, seed=2)
        shards = [tmp_path / f"rank{r}.jsonl" for r in range(2)]
        for rank, path in enumerate(shards):
            generate_candidates(policy, items, smoke_dataset, cfg, path, seed=2, rank=rank, world_size=2)
        ids = [[s.item_id for s in _sets(path)] for path in shards]
        assert ids[0] == [i.id for i in items[0:2] + items[4:6]]
        assert ids[1] == [i.id for i in items[2:4]]
        by_id = {s.item_id: s.to_dict() for path in shards for s in _sets(path)}
        assert [by_id[i.id] for i in items] == [s.to_dict() for s in _sets(full)]


class TestDedup:
    @pytest.mark.parametrize("temperature", [0.0, 1e-5])
    def test_duplicates_removed(
        self, policy, items, smoke_dataset: Path, tmp_path: Path, temperature: float
    ) -> None:
        cfg = _cfg(num_candidates=4, temperature=temperature)
        summary = generate_candidates(policy, items[:4], smoke_dataset, cfg, tmp_path / "c.jsonl", seed=0)
        sets = _sets(tmp_path / "c.jsonl")
        assert all(s.num_generated == 4 for s in sets)
        assert all(len(s.candidates) < 4 for s in sets)
        assert summary["duplicates_removed"] == sum(4 - len(s.candidates) for s in sets) > 0


class TestSentences:
    def test_sentence_end(self) -> None:
        assert sentence_end("It is red. It is big.") == len("It is red.")
        assert sentence_end("It is red.\nAnswer: B") == len("It is red.\n")
        assert sentence_end("  \nIt is red!") is None
        assert sentence_end("\nIt is 3.5 cm\nAnswer") == len("\nIt is 3.5 cm\n")
        assert sentence_end("It is red.") is None  # the next character decides

    def test_cut_and_finish(self, policy) -> None:
        tokenizer = policy.processor.tokenizer
        eos = tokenizer.eos_token_id

        def gen(text: str, end: bool = False) -> Generated:
            tokens = tokenizer.encode(text, add_special_tokens=False) + ([eos] if end else [])
            return Generated(tokens, [-0.5] * len(tokens), "sentence")

        first = gen("The cat is red. It is big.")
        cut = sentence_cut(tokenizer, first.tokens)
        assert tokenizer.decode(first.tokens[:cut]) == "The cat is red."
        step1 = _extend(tokenizer, _Partial(), first, 64, eos)
        assert step1.finish is None and step1.sentences == 1 and len(step1.logprobs) == cut
        step2 = _extend(tokenizer, step1, gen("\nAnswer: B\nmore"), 64, eos)
        assert step2.finish == "answer" and tokenizer.decode(step2.tokens) == "The cat is red.\nAnswer: B\n"
        assert _extend(tokenizer, step1, gen(" Done", end=True), 64, eos).finish == "eos"
        assert _extend(tokenizer, step1, gen(" It is so very big and"), cut + 3, eos).finish == "budget"

    def test_diverse_order(self) -> None:
        scores = [-1.0, -3.0, -0.5, -2.0, -4.0]
        order = diverse_order(scores)
        assert order == [2, 4, 0, 1, 3]
        assert sorted(order[:4]) == [0, 1, 2, 4]  # two best (2, 0) and two worst (4, 1)
        assert diverse_order([]) == []


def test_summary_counts_candidate_diversity() -> None:
    """Distinct final answers per item and the share of items holding both a right and a wrong candidate."""
    from calibrate.candidates import summarize
    from calibrate.records import Candidate

    def cand(i: int, answer: str | None, correct: bool | None) -> Candidate:
        return Candidate(i, f"Answer: {answer}", "", answer, "ok" if answer else "invalid", correct, -1.0, 3)

    sets = [
        CandidateSet("a", [cand(0, "1", True), cand(1, "2", False), cand(2, "2", False)], 3),
        CandidateSet("b", [cand(0, "3", False), cand(1, None, False)], 3),
        CandidateSet("c", [cand(0, "4", True)], 2),
    ]
    summary = summarize(sets)
    assert summary["distinct_answers_per_item"] == pytest.approx((2 + 2 + 1) / 3, abs=1e-4)
    assert summary["mixed_items_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert summarize([])["mixed_items_rate"] == 0.0
