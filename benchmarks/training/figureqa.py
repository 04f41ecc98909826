"""FigureQA (Kahou et al., ICLR 2018 workshop): yes/no questions about synthetic plots and charts.

Data: ``vikhyatk/figureqa`` split ``train`` (100,000 figures), the same row shape as ``vikhyatk/dvqa``
(``image`` bytes, ``qa`` list); one question per row (`benchmarks.training.dvqa.QAListSource`). Licence:
not stated on the dataset card (unverified).
"""

from __future__ import annotations

from benchmarks.training.dvqa import QAListSource


class FigureQASource(QAListSource):
    name = "figureqa"
    title = "FigureQA (train)"
    category = "chart"
    dataset = "vikhyatk/figureqa"
    license = "unverified (no licence on the dataset card)"
    citation = "Kahou et al., 'FigureQA: An Annotated Figure Dataset for Visual Reasoning' (arXiv:1710.07300)"


SOURCE = FigureQASource()
