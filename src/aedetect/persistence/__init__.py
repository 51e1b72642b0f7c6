"""Saving and loading models as JSON + safetensors: storage mechanics at the bottom, then save and load."""
