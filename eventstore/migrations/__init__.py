"""The whole project's schema: every table of every part, numbered NNNN_name.sql, in order.

Applied ones never change; a change is a new file. README.md "The schema" says which part owns
which table.
"""
