-- The notifier reads a tenant's recipients for every event it fans out: without this index each read
-- scanned every tenant's recipients.
CREATE INDEX email_recipients_tenant ON email_recipients (tenant_id);
