"""The R-Scorer (``src``'s candidate scorer in stage 3, verdicts), in three parts.

- `calibrate.scorer.model`: inference. `RScorer` builds the pairwise prompt, reads verdict probabilities
  (A / B / Tie) from one forward per ordered pair with shared-segment KV reuse, scores both orders;
  `RScorerVerdicts` is its entry in `calibrate.verdicts.SCORERS`.
- `calibrate.scorer.labels`: labels. The `LabelledPair` record, fact labels (`fact_score`,
  `fact_label`, `fact_examples`), external label files (`read_labels`), `training_examples` (the scorer's
  training pairs from a run's inputs) and label hygiene (consistency filter, held-out split, balancing).
- `calibrate.scorer.train`: training. `train_scorer` (LoRA SFT on labelled pairs) and `ScorerStage`, the
  loop's scorer stage (training candidates, labels, adapter).

Import from the submodules; this package re-exports nothing.
"""
