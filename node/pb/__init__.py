"""Generated protobuf and gRPC stubs (see ci/gen-proto); never edit by hand."""
