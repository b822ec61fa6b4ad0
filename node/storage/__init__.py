"""What is on disk: the LevelDB store and its guard, chains, watermarks and
checkpoints, and the work that keeps the disk bounded (truncation, GC, reclaim).
"""
