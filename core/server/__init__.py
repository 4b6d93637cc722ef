"""The gRPC face of the core: servicer, conversions, error mapping, server assembly."""
