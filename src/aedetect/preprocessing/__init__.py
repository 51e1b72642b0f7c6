"""Preprocessing fitted on normal rows only: tables (scaling, one-hot, imputation) and arrays (images, windows)."""
