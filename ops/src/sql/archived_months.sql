-- The months archived to S3, with their objects and the SHA-256 each was written with.
SELECT month, object_key, sha256 FROM audit_archives ORDER BY month
