"""Geo170K (Gao et al., G-LLaVA, 2023): geometry problems with worked solutions (GeoQA+ and Geometry3K).

Data: ``Luckyjhg/Geo170K``: ``qa_tuning.json`` (LLaVA conversation format: ``image`` a path under
``images/``, ``conversations`` ``[{from, value}]``) and ``images.zip`` unpacked to ``images/``; its split is
``qa_tuning`` (not ``train``). Give the unpacked copy with ``--source geo170k=DIR``. The first human turn
is the question (its ``A: ...`` option lines become choices); the last assistant turn is the solution,
which becomes the rationale target, and its ``Answer:`` the gold answer. Licence: the card states none
(unverified).
"""

from __future__ import annotations

from benchmarks.training._common import ConversationSource


class Geo170KSource(ConversationSource):
    name = "geo170k"
    title = "Geo170K (qa_tuning)"
    category = "math_science"
    dataset = "Luckyjhg/Geo170K"
    split = "qa_tuning"
    image_root = "images"
    license = "unverified (no licence on the dataset card)"
    citation = "Gao et al., 'G-LLaVA: Solving Geometric Problem with Multi-Modal Large Language Model' (arXiv:2312.11370)"


SOURCE = Geo170KSource()
