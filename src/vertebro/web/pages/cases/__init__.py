"""Prior-authorisation cases: the reviewer queue with its deadline clocks, and the case page
(summary, determinations with their evidence, questions and answers, decisions, appeals and
the timeline).

The pages call the same use cases as the API (`vertebro.api.routes.cases`) with the same
permissions (`vertebro.api.security.PERMISSIONS`): `case_service` decides what an account may
see (a requester only its own organisation's cases) and records every read and change in the
audit trail. A page never decides anything itself; it only offers the actions a role may take
and shows the use case's answer.
"""

from vertebro.web.pages.cases.routes import router
from vertebro.web.pages.cases.words import APPROVED_WITHOUT_NOTE

__all__ = ["APPROVED_WITHOUT_NOTE", "router"]
