-- A wrong password or an unknown email: counted towards throttling, unless the email
-- already has its allowance of failures (`recorded` false: the answer is 429).
SELECT record_login_failure(:email_hash, :max_failures, :window_minutes) AS recorded
