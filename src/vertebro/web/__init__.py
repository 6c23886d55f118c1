"""Server-rendered web pages for clinicians, reviewers, coders and audit leads, served by
`vertebro serve` beside the API, with the same accounts and permissions."""
