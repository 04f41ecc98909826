"""AI2D (Kembhavi et al., ECCV 2016), training questions: multiple choice about science diagrams.

Data: ``HuggingFaceM4/the_cauldron`` config ``ai2d`` split ``train`` (2,445 rows; ``lmms-lab/ai2d``, which
the ``ai2d`` benchmark evaluates, has only a test split). The Cauldron's schema (`CauldronSource`):
``images`` and ``texts`` (``"Question: ...\\nChoices:\\nA. ...\\nAnswer with the letter."`` /
``"Answer: B"``). Gold answer: the letter. Licence: the Cauldron's card states none (unverified; AI2D
itself: CC BY-SA 4.0 per its authors, unverified here). Whether any row repeats an AI2D test image is
exactly what the build's decontamination against ``ai2d`` checks.
"""

from __future__ import annotations

from benchmarks.training._common import CauldronSource


class AI2DTrainSource(CauldronSource):
    name = "ai2d_train"
    title = "AI2D (train, the Cauldron)"
    category = "math_science"
    dataset_config = "ai2d"
    license = "unverified (no licence on the Cauldron's card)"
    citation = "Kembhavi et al., 'A Diagram Is Worth A Dozen Images' (ECCV 2016); Laurençon et al., the Cauldron (2024)"


SOURCE = AI2DTrainSource()
