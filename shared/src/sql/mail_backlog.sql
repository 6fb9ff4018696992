-- What the outbox still holds after a retry run, and how much of it has failed at least
-- :alert_attempts times (the MailUndelivered metric, which has an alarm).
SELECT count(*) AS queued, count(*) FILTER (WHERE attempts >= :alert_attempts) AS undelivered FROM mail_outbox
