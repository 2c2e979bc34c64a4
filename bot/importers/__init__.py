"""Importers: turn existing live blogs and line-per-post diaries into feeds.

`bot.importers.cli.import_group` is the `bot import` click group; the
modules below it are plain functions: `liveblog` and `lines` read sources
into `writer.Post`s, `writer` makes threads, ids and files, `split` cuts long
texts, `yamlout` renders YAML that reads back exactly.
"""
