"""remesh cluster tool: topologies as real processes, faults, convergence checks."""
