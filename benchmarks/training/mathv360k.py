"""MathV360K (Shi et al., Math-LLaVA, 2024): 360K math questions over 40K images of 24 datasets.

Data: ``Zhiqiang007/MathV360K``: ``train_samples_all_tuning.json`` (LLaVA conversation format; ``image`` a
path under ``data_images/`` that starts with its source dataset's name) and ``data_images.zip`` (5.8 GB)
unpacked to ``data_images/``. Give the unpacked copy with ``--source mathv360k=DIR``. Question, options and
answer as `ConversationSource` reads them; rows whose answer cannot be read are dropped and counted.
Some of its sources (FigureQA, IconQA, TabMWP, Geometry3K) feed MathVista too: the build's
decontamination against ``mathvista_testmini`` is what keeps those images out. Licence: the card states
none (unverified).
"""

from __future__ import annotations

from benchmarks.training._common import ConversationSource


class MathV360KSource(ConversationSource):
    name = "mathv360k"
    title = "MathV360K"
    category = "math_science"
    dataset = "Zhiqiang007/MathV360K"
    split = "train"
    image_root = "data_images"
    license = "unverified (no licence on the dataset card)"
    citation = "Shi et al., 'Math-LLaVA: Bootstrapping Mathematical Reasoning for Multimodal LLMs' (arXiv:2406.17294)"


SOURCE = MathV360KSource()
