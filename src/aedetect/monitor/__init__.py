"""Drift: do the rows a model scores still look like the normal rows it was trained and calibrated on?"""
