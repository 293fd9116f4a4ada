"""The columns every source adds to its rows: the file and the record number of each."""

HIDDEN_COLUMNS: tuple[str, str] = ("_tf_file", "_tf_row")
