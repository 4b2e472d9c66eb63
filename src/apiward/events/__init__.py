"""Security events and access records, and the sinks that write them."""
