"""Importers: each reads one dataset layout into manifest rows, never dropping a row it cannot parse.

A line or record that is malformed still becomes a row, with `problem` saying what is wrong, so that validate
quarantines it with that reason. Only a dataset that cannot be read at all (no such directory, an unreadable
annotation file) fails ingest outright, with one line naming the file.
"""
