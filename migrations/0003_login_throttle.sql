-- Login throttling that holds under concurrency. One row per email (keyed by the SHA-256
-- of the lower-cased address, so no address is stored) with the times of its recent
-- attempts. A login claims an attempt by updating that row before it checks the
-- password; the row lock makes concurrent claims take turns, so a burst of guesses gets
-- five in fifteen minutes in all, not five per concurrent request. A successful login
-- deletes the row.
--
-- Replaces login_failures, whose read-then-insert let concurrent guesses past the limit.
-- Its rows are dropped with it: at worst, an email throttled at the moment of the
-- upgrade gets its five attempts back early.
CREATE TABLE login_throttle (
  email_hash bytea PRIMARY KEY,
  attempts   timestamptz[] NOT NULL
);

DROP TABLE login_failures;
