"""Not the runtime: measurements of the node's own code that `cluster bench` runs.
"""
