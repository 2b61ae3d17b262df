"""Durations written for people, shared by the dashboard and the command line."""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    """Return a duration the way a person reads it: ``12.3 s``, ``4 min 5 s``, ``2 h 10 min``, ``3 d 4 h``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, whole_seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {whole_seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
