"""What clients and peers call: the gRPC servicers, the Writes and Watch streams,
Admin and the write gate, authentication, TLS, message limits and error statuses.
"""
