"""Data: where rows come from (sources), how they become tensors (preprocess, labels), splits, augmentation."""
