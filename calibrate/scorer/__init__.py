"""Stage 3, the R-Scorer, in three parts.

- `calibrate.scorer.model`: inference. `RScorer` builds the pairwise prompt, reads verdict probabilities
  (A / B / Tie) from one forward per ordered pair with shared-segment KV reuse, judges both orders.
- `calibrate.scorer.labels`: labels. The `LabelledPair` record, the fact judge (`fact_score`,
  `fact_label`, `fact_examples`), external label files (`read_labels`), `training_examples` (the scorer's
  training pairs from a run's inputs) and label hygiene (consistency filter, held-out split, balancing).
- `calibrate.scorer.train`: training. `train_scorer` (LoRA SFT on labelled pairs).

Import from the submodules; this package re-exports nothing.
"""
