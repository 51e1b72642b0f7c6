"""``aedetect serve``: saved models over HTTP."""

from __future__ import annotations

from typing import Annotated

import typer

from aedetect.cli.common import errors, user_errors


@user_errors
def serve(
    models: Annotated[
        list[str], typer.Argument(help="Model directories, as PATH or NAME=PATH; the first is the default.")
    ],
    host: Annotated[str, typer.Option(help="Address to bind; anything but localhost needs an API key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    api_key: Annotated[
        str | None, typer.Option(envvar="AEDETECT_API_KEY", help="Key that clients send in the X-API-Key header.")
    ] = None,
    allow_unauthenticated: Annotated[bool, typer.Option(help="Serve beyond localhost without an API key.")] = False,
    max_rows: Annotated[int, typer.Option(help="Most rows per request (413 beyond).")] = 10_000,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body in MB (413 beyond).")] = 16.0,
) -> None:
    """Serve models over HTTP.

    POST /score, GET /model, GET /health; interactive docs at /docs.
    """
    from aedetect.serve.app import check_binding, load_models
    from aedetect.serve.app import serve as run_server

    api_key = check_binding(host, api_key, allow_unauthenticated)  # before the slow part; a blank key is none
    if max_rows < 1 or max_body_mb <= 0:
        raise ValueError(f"--max-rows must be >= 1 and --max-body-mb > 0; got {max_rows} and {max_body_mb}.")
    served = load_models(models)
    errors.print(
        f"serving {', '.join(served)} on http://{host}:{port} (docs at /docs){'; API key required' if api_key else ''}",
        highlight=False,
    )
    from aedetect.evaluation import ThresholdMeaning

    for name, model in served.items():  # what each model's default threshold flags
        errors.print(f"{name}: {ThresholdMeaning.of(model.detector).describe()}", highlight=False, markup=False)
    run_server(served, host, port, api_key, allow_unauthenticated, max_rows, int(max_body_mb * (1 << 20)))
