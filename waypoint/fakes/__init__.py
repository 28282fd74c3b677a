"""Fakes of other systems, for tests, the demo and benchmarks (never for production).

`waypoint.fakes.payments` is a local payment service that honours Stripe-style idempotency
keys and injects faults on request.
"""
