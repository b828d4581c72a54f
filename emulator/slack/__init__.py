"""A Slack stand-in for tests, the demo and benchmarks: a Web API that records every call, and requests
signed exactly as Slack signs them."""
