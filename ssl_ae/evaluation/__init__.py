"""Few-label evaluation: classifiers on frozen codes and the baselines (probes), the metrics,
choosing which images to label (selection), the sweep over labels per class and seeds, and the
report's tables and figures."""
