"""tuskflow: the front door, with the `tuskflow` console script (tuskflow.cli)."""

__version__ = "0.1.0"
