from tests.support.fixtures import echo_upstream, start_gateway

__all__ = ["echo_upstream", "start_gateway"]
