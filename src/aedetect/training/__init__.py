"""Training: the loop, losses, metrics, early stopping and the variants."""
