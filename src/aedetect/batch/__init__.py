"""Scoring rows in bulk: the row-scoring core, files in chunks, streams and cluster engines."""
