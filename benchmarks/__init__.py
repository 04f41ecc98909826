"""srcal benchmarks: built-in offline suites, public benchmark specs, parsing and scoring."""
