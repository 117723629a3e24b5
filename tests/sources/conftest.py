"""Fixtures of the AWS source tests: the local AWS emulator (see tests/aws_server.py), and the Event
history and Athena fixtures the fault tests share with those sources' own tests."""

from tests.aws_server import aws, moto_server  # noqa: F401
from tests.sources.test_athena import archive, athena, tables  # noqa: F401, E402
from tests.sources.test_lookup import history, history_archive  # noqa: F401, E402
