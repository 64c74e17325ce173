"""magnet-forecast: bottom-up NdFeB magnet and rare-earth demand, and non-Chinese supply."""

__version__ = "0.1.0"
