"""Views: one module per screen, each turning typed records into what a terminal (or a PNG) shows.

Views never read files or run models; the CLI prints what they return. Only `predictions` is on
the fast predict path, so it uses plain text instead of rich.
"""
