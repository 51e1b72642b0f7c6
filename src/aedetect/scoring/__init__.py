"""Scoring: forward passes in batches and RowScorer, the exportable score of a row."""
