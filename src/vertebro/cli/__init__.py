"""The command line: thin wrappers that parse arguments, call services and print."""

from __future__ import annotations

from vertebro.cli.common import EXIT_BAD_INPUT, main

# Importing each family registers its commands on `main`, in this order.
# isort: off
from vertebro.cli import assessment as assessment  # assess, test, policies, policy, facts
from vertebro.cli import preparation as preparation  # prepare
from vertebro.cli import coding as coding  # code, claim-check, codes
from vertebro.cli import serving as serving  # serve, db
from vertebro.cli import registry as registry  # registry
from vertebro.cli import audit as audit  # audit
from vertebro.cli import batch as batch  # batch
# isort: on

__all__ = ["EXIT_BAD_INPUT", "main"]
