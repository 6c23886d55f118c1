"""New assessment: paste a clinical note or upload a FHIR bundle / vertebro case file, see the
outcome per requested procedure with the criteria tree, every conclusion's evidence and
citation, answer the open questions, and (requesters) submit it for prior authorisation.

The round trip keeps no server-side store. The input, the chosen policy, the as-of date and the
answers so far travel in one hidden form field, a *draft*: compressed JSON with an HMAC bound
to the signed-in session. So nothing about an assessment that is never submitted is kept on the
server (no patient data to expire or protect), any server process can continue it, and the
server only ever decompresses what it produced itself (no decompression bombs, no other
session's draft). Every step reads the input again and assesses it afresh; nothing is trusted
from the browser but the person's own input and answers, which are validated as on first entry.
"""

from vertebro.web.pages.assess.answers import NONE_OF_THESE, coerce_answer
from vertebro.web.pages.assess.routes import router
from vertebro.web.pages.assess.views import note_marks

__all__ = ["NONE_OF_THESE", "coerce_answer", "note_marks", "router"]
