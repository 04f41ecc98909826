"""Serve a policy with ``transformers serve`` (OpenAI-compatible), the zoo's own vision tower registered.

``transformers serve`` loads each model in a process of its own (spawned), which imports this module
again: registering ``calibrate.zoo.vision_tower`` at import time makes srcal-micro / srcal-tiny and the
checkpoints calibrated from them loadable there. Models of stock architectures (llava-hf/...) need no
launcher: ``transformers serve MODEL``; at scale, vLLM (docs/gpu.md).

Usage (arguments are ``transformers serve``'s)::

    python -m tools.serve_policy RUN/iter_1/model --port 8000 --device cpu
    srcal eval --engine endpoint --endpoint http://localhost:8000/v1 --model RUN/iter_1/model ...

The served name is the path given. ``--continuous-batching`` applies to text-only models in
transformers 5.25 (a LLaVA policy logs "Only LLMs support continuous batching" and decodes one
request at a time).
"""

from __future__ import annotations

import sys

import calibrate.zoo.vision_tower  # noqa: F401  (registers the tower, in the spawned model process too)


def main(argv: list[str]) -> None:
    from transformers.cli.transformers import main as transformers_main

    sys.argv = ["transformers", "serve", *argv]
    transformers_main()


if __name__ == "__main__":
    main(sys.argv[1:])
