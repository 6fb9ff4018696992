-- A message went out: it leaves the outbox.
DELETE FROM mail_outbox WHERE id = :id
