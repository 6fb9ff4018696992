-- Nothing but the session check `acting_as` composes in: whether an admin's token is
-- still live, for introspection.
SELECT true AS live
