"""Clinical coding rules (OPCS-4, ICD-10, CPT, ICD-10-CM) and payer billing rules, as pure
functions over a typed operative record and code tables passed in as data."""
