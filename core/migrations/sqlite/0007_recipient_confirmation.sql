-- An email recipient gets nothing but its confirmation message until it follows the link in it.
-- confirm_token_hash: SHA-256 of the link's token (the token itself is only in the email).
-- Recipients made before confirmation existed count as confirmed.
ALTER TABLE email_recipients ADD COLUMN confirmed_at BIGINT;
ALTER TABLE email_recipients ADD COLUMN confirm_token_hash TEXT;
UPDATE email_recipients SET confirmed_at = created_at;
