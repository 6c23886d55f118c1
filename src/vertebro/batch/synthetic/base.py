"""What the generators share: the date every generated case is as of, and `Resource`."""

from __future__ import annotations

import datetime as dt
from typing import Any

AS_OF = dt.date(2026, 10, 1)
Resource = dict[str, Any]
