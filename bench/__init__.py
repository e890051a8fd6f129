"""unifydb's benchmark suite (issue 6).

``python -m bench`` runs every benchmark and prints one table; ``--short``
uses small counts for CI, ``--full`` the real ones. Every figure is a ratio
measured side by side in the same run (unifydb against the raw library doing
the same work, alternating which goes first, several rounds, median), printed
beside its noise floor: the same measurement of the raw setup against a second,
identical raw setup. See docs/benchmarks.md.
"""
