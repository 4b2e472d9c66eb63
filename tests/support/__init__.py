"""Test harness for the gateway: an echo upstream and a real gateway on 127.0.0.1.

Typical integration test (import the fixtures in your own conftest.py)::

    # tests/integration/waf/conftest.py
    from tests.support.fixtures import echo_upstream, start_gateway  # noqa: F401

    # tests/integration/waf/test_blocking.py
    import httpx
    from tests.support.gateway import policy_yaml

    def test_sqli_blocked(echo_upstream, start_gateway):
        gateway = start_gateway(policy_yaml(echo_upstream.address, route="    waf: {}\\n"))
        response = httpx.get(gateway.url + "/items?id=1' OR 1=1--")
        assert response.status_code == 403
        assert echo_upstream.requests == 0

Parts:

- :class:`tests.support.echo.EchoUpstream`: raw asyncio server on a free 127.0.0.1 port in a
  background thread. It responds with JSON describing each request (``method``, ``path``,
  ``headers``, ``body_len``, ``body_sha256``, ``connection``, ``request``) and counts
  ``connections`` and ``requests``. Request headers ``x-echo-status``, ``x-echo-delay``,
  ``x-echo-chunks``, ``x-echo-size``, ``x-echo-close`` and ``x-echo-early`` (respond before
  reading the body) change the response; the attribute
  ``raw_response`` makes it send raw bytes instead (a misbehaving upstream).
- :func:`tests.support.gateway.policy_yaml`: a policy with one route ``all`` on ``/`` to
  upstream ``app``, on a free port; add route keys with ``route=`` (indent them 4 spaces).
- :class:`tests.support.gateway.GatewayThread`: the gateway in-process on its own uvloop
  thread (``.url``, ``.port``, ``.gateway``, ``.reload()``, ``.stop()``).
- :class:`tests.support.gateway.GatewayProcess`: ``python -m apiward gateway`` as a child
  process (``workers=`` for the multi-process mode), stopped with SIGTERM.
- :mod:`tests.support.client`: send exact bytes (``send_raw``, ``request_raw``) and parse
  the responses, for framing tests that an HTTP client library would not send.
- :mod:`tests.support.fixtures`: ``echo_upstream`` and ``start_gateway(policy_text)``.

Everything binds to 127.0.0.1 only.
"""
