"""Public training sets the paper's pools are drawn from (``srcal data build --preset paper-public``).

One module per source, each a `benchmarks.training._common.TrainingSource` registered in
`benchmarks.registry.TRAINING_SOURCES`: the dataset's hub id and training split (or a local copy:
``--source NAME=DIR``), its category, licence and the rule that reads one gold answer from a row.
"""
