"""What a node tells about itself: metrics and their /metrics exposition,
log formats, and the Status answer.
"""
