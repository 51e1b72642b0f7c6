"""The HTTP scoring service: the FastAPI app, its JSON handling and limits."""
