-- An audit event with no statement of its own to ride on; `Statement::audit` adds it.
SELECT true AS recorded
