"""``python -m aedetect.cli``: the same command as ``aedetect``."""

from aedetect.cli import app

app(prog_name="aedetect")
