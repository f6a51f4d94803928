"""bgrm: remove or replace the background of recorded video."""

__version__ = "0.1.0"
