"""Fixtures of the AWS source tests: the local AWS emulator (see tests/aws_server.py)."""

from tests.aws_server import aws, moto_server  # noqa: F401
