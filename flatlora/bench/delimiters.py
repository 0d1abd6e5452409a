"""The column delimiters a user may name (`--delimiter`), each spelling mapped to its character."""

DELIMITERS = {",": ",", "comma": ",", "tab": "\t", "\\t": "\t", "\t": "\t", ";": ";", "semicolon": ";"}
DELIMITERS |= {"|": "|", "pipe": "|"}
