"""Local stand-ins for the external systems, over real sockets on loopback.

Every server has one shape (:class:`sandbox.base.SandboxServer`): it starts on a free loopback
port, stops cleanly, describes the Airflow connections that reach it, and takes injected faults
(:class:`sandbox.base.FaultPlan`) from tests, from the demo, or over HTTP from another process.
"""
